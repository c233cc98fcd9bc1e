// Edits an operator makes to the upshift.yaml that `init` or `join` wrote, done on the text
// the way a person would (uncomment an example, change a value), so tests prove the
// commented examples load as written.

/**
 * Uncomment the `# app:` example that follows the line starting with `# (<letter>)`:
 * every `# ` prefix of its lines is removed, down to the first line that is not part of it.
 */
export function uncommentApp(text: string, letter: 'a' | 'b' | 'c'): string {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`# (${letter})`));
  if (at < 0) throw new Error(`no example (${letter}) in the config`);
  let i = lines.findIndex((l, k) => k > at && l === '# app:');
  if (i < 0) throw new Error(`example (${letter}) has no "# app:" line`);
  lines[i] = 'app:';
  for (i += 1; i < lines.length && (lines[i] as string).startsWith('#   '); i += 1) lines[i] = (lines[i] as string).slice(2);
  return lines.join('\n');
}

/** Replace `key: <value>` on the first line that sets `key` at `indent` spaces (the value as YAML text). */
export function setValue(text: string, key: string, value: string, indent = 2): string {
  const re = new RegExp(`^( {${indent}}${key}:) .*$`, 'm');
  if (!re.test(text)) throw new Error(`no "${key}:" at indent ${indent}`);
  return text.replace(re, `$1 ${value}`);
}
