// The release code hash: what a manifest pins and what every canary attests. The format is
// a contract between the authority and every node (and anyone re-computing it by hand), so
// it lives here, pure, apart from the file reading:
//
//   hash = SHA-256 over, for each tracked file in bytewise (UTF-8) path order,
//          `${path}\0${mode}\0${sha256hex(content)}\n`
//
// path is relative to the work tree root with `/` separators; mode is the octal mode string
// git's index records (100644, 100755, 120000, 160000), so the exec bit counts as committed;
// content is the file's bytes as found in the work tree (a symlink: its target string; a
// gitlink: the submodule commit id string), so an edit on disk changes the hash.
import { UpshiftError } from './errors.js';

export interface CodeHashEntry {
  path: string;
  mode: string;
  /** Lowercase hex SHA-256 of the content as defined above. */
  contentSha256: string;
}

export type ContentKind = 'file' | 'symlink' | 'gitlink';

const KIND_OF_MODE: Record<string, ContentKind> = {
  '100644': 'file',
  '100755': 'file',
  '120000': 'symlink',
  '160000': 'gitlink',
};

/** What to hash for an index mode; any other mode cannot appear in a clean work tree. */
export function contentKind(mode: string, path: string): ContentKind {
  const kind = KIND_OF_MODE[mode];
  if (!kind) throw new UpshiftError('E_WORKTREE', `tracked path ${path} has unsupported mode ${mode}`, { details: { path, mode } });
  return kind;
}

/** The line an entry contributes to the outer hash. */
export function codeHashLine(entry: CodeHashEntry): string {
  return `${entry.path}\0${entry.mode}\0${entry.contentSha256}\n`;
}

/**
 * The ordered lines to feed into the outer SHA-256. Entries may come in any order; the
 * same path twice (an unmerged index has one entry per stage) is refused, because a
 * release cannot contain two versions of one file.
 */
export function codeHashLines(entries: readonly CodeHashEntry[]): string[] {
  const sorted = [...entries].sort((a, b) => compareUtf8(a.path, b.path));
  const lines = new Array<string>(sorted.length);
  for (let i = 0; i < sorted.length; i++) {
    const entry = sorted[i]!;
    if (i > 0 && sorted[i - 1]!.path === entry.path) {
      throw new UpshiftError('E_WORKTREE', `tracked path ${entry.path} appears more than once (unmerged?)`, { details: { path: entry.path } });
    }
    if (entry.contentSha256.length !== 64) {
      throw new UpshiftError('E_INTERNAL', `content hash of ${entry.path} is not a SHA-256 hex digest`);
    }
    lines[i] = codeHashLine(entry);
  }
  return lines;
}

/**
 * Order two strings as their UTF-8 bytes would sort (git's path order). UTF-16 code unit
 * order differs only where a surrogate pair meets a code unit at or above U+E000, so map
 * code units to restore code point order; this avoids encoding every path.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800; // U+E000..U+FFFF sort below supplementary planes
  if (unit >= 0xd800) return unit + 0x2000; // surrogates stand for code points ≥ U+10000
  return unit;
}
