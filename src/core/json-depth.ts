// A cheap guard before JSON.parse on bytes nobody has authenticated yet: one pass over the
// text counting open brackets outside strings. Deeply nested input is what makes JSON.parse
// (and every recursive walk after it) slow; no message of ours nests more than a few levels.

/** Nesting allowed in any JSON body a daemon parses before it knows who sent it. */
export const MAX_JSON_DEPTH = 32;

/** True when `text` opens more than `max` arrays or objects inside each other. */
export function jsonTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}
