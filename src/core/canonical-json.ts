// Canonical JSON: one byte string per value, so that signed bytes and parsed values can
// never disagree. Keys are sorted by UTF-16 code units (as in RFC 8785); numbers and
// strings use JSON.stringify's forms; there is no whitespace.
//
// parseStrictJson accepts a document only if it is already in that form. Comparing the
// input to the re-serialized value rejects, in one rule, everything JSON.parse would
// silently normalize: duplicate keys (last one wins), whitespace, `1.0` vs `1`, escaped
// vs literal characters, and integers that lost precision.
import { UpshiftError } from './errors.js';

// Manifests are shallow; the cap keeps recursion far from the stack limit on hostile input.
const MAX_DEPTH = 64;

function refuse(reason: string): never {
  throw new UpshiftError('E_MANIFEST_PARSE', `cannot canonicalize: ${reason}`);
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function encodeNumber(n: number, path: string): string {
  if (!Number.isFinite(n)) refuse(`${path} is not a finite number (${String(n)})`);
  // Above 2^53 two different texts can parse to the same number, so the bytes a signer
  // saw and the value a verifier acts on may differ.
  if (Number.isInteger(n) && !Number.isSafeInteger(n)) refuse(`${path} is an unsafe integer (${String(n)})`);
  return JSON.stringify(n);
}

function encode(value: unknown, path: string, depth: number): string {
  if (depth > MAX_DEPTH) refuse(`${path} is nested deeper than ${MAX_DEPTH} levels`);
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return encodeNumber(value, path);
    case 'string':
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      refuse(`${path} has type ${typeof value}, which JSON cannot represent`);
  }
  if (Array.isArray(value)) {
    const parts = value.map((item, i) => {
      if (item === undefined) refuse(`${path}[${i}] is undefined`);
      return encode(item, `${path}[${i}]`, depth + 1);
    });
    return `[${parts.join(',')}]`;
  }
  if (!isPlainObject(value)) refuse(`${path} is not a plain object`);
  // Default sort compares UTF-16 code units, which is the order RFC 8785 specifies.
  const keys = Object.keys(value).sort();
  const parts: string[] = [];
  for (const key of keys) {
    if (key === '__proto__') refuse(`${path} has a "__proto__" key`);
    const item = value[key];
    // Like JSON.stringify, an absent optional field may be spelled `undefined`.
    if (item === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${encode(item, `${path}.${key}`, depth + 1)}`);
  }
  return `{${parts.join(',')}}`;
}

/** Canonical JSON text of a value; throws E_MANIFEST_PARSE for values JSON cannot carry exactly. */
export function canonicalize(value: unknown): string {
  if (value === undefined) refuse('the value is undefined');
  return encode(value, '$', 0);
}

/** Canonical JSON as UTF-8 bytes. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalize(value));
}

function parseError(reason: string, cause?: unknown): UpshiftError {
  return new UpshiftError('E_MANIFEST_PARSE', `invalid JSON document: ${reason}`, cause === undefined ? {} : { cause });
}

function excerpt(text: string, at: number): string {
  return JSON.stringify(text.slice(at, at + 24));
}

/**
 * Parse bytes that must be canonical JSON (see canonicalize). Throws E_MANIFEST_PARSE
 * saying why: invalid UTF-8, invalid JSON, a `__proto__` key, an unsafe integer, or the
 * first offset where the text departs from its canonical form.
 */
export function parseStrictJson(bytes: Uint8Array): unknown {
  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, where the canonical comparison rejects it.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (err) {
    throw parseError('the bytes are not valid UTF-8', err);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw parseError(`not JSON (${err instanceof Error ? err.message : String(err)})`, err);
  }
  let canonical: string;
  try {
    canonical = canonicalize(parsed);
  } catch (err) {
    const reason = err instanceof Error ? err.message.replace(/^cannot canonicalize: /, '') : String(err);
    throw parseError(reason, err);
  }
  if (canonical !== text) {
    let at = 0;
    while (at < canonical.length && at < text.length && canonical[at] === text[at]) at++;
    throw parseError(
      `not in canonical form at character ${at}: found ${excerpt(text, at)}, expected ${excerpt(canonical, at)} ` +
        '(keys must be sorted and unique, with no whitespace and JSON.stringify number and string forms)',
    );
  }
  return parsed;
}
