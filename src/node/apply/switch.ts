// SPEC step 4: the atomic switch. `current` is replaced by rename(2) of a freshly made
// symlink, so at every instant it names either the old release or the new one, never
// nothing and never a missing directory; the app dir is fsynced so the rename survives a
// power cut. The link is relative (`releases/<name>`) so the app dir can be moved.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, renameSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { UpshiftError } from '../../core/errors.js';
import type { Failpoint } from '../../core/ports.js';

export const CURRENT = 'current';
const TMP_PREFIX = `${CURRENT}.tmp-`;

/** The release name `current` points at, or null before the first release. */
export function currentRelease(appDir: string): string | null {
  const link = join(appDir, CURRENT);
  let target: string;
  try {
    target = readlinkSync(link);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'EINVAL') throw new UpshiftError('E_WORKTREE', `${link} is not a symlink; upshift manages it as current → releases/<release>`);
    throw err;
  }
  const releases = resolve(appDir, 'releases') + sep;
  const abs = resolve(appDir, target);
  const name = abs.startsWith(releases) ? abs.slice(releases.length) : '';
  if (name === '' || name.includes(sep)) {
    throw new UpshiftError('E_WORKTREE', `${link} points at ${target}, not at a release under ${releases}`, { details: { target } });
  }
  return name;
}

/** Whether `current` names an existing release directory (the invariant every test checks). */
export function currentIsValid(appDir: string): boolean {
  try {
    const name = currentRelease(appDir);
    return name !== null && statSync(join(appDir, CURRENT)).isDirectory();
  } catch {
    return false;
  }
}

export function releaseExists(appDir: string, name: string): boolean {
  try {
    const st = lstatSync(join(appDir, 'releases', name));
    return st.isDirectory();
  } catch {
    return false;
  }
}

/**
 * Point `current` at `releases/<name>`. Failpoints `<prefix>:symlinked` (the new link
 * exists beside `current`) and `<prefix>:switched` (renamed, not yet fsynced).
 */
export function switchCurrent(appDir: string, name: string, fp: Failpoint, prefix: string): void {
  // Never make a link that would dangle.
  if (!releaseExists(appDir, name)) throw new UpshiftError('E_WORKTREE', `release ${name} does not exist under ${appDir}/releases`);
  mkdirSync(join(appDir, 'shared'), { recursive: true });
  const tmp = join(appDir, `${TMP_PREFIX}${randomBytes(6).toString('hex')}`);
  symlinkSync(join('releases', name), tmp);
  fp(`${prefix}:symlinked`);
  try {
    renameSync(tmp, join(appDir, CURRENT));
  } catch (err) {
    unlinkSync(tmp);
    throw new UpshiftError('E_WORKTREE', `cannot switch ${appDir}/current to ${name}: ${(err as Error).message}`, { cause: err });
  }
  fp(`${prefix}:switched`);
  fsyncDir(appDir);
}

/** Make a directory's entries (a rename, a new link) durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Links a crash left between create and rename: they were never `current`. */
export function removeStrayLinks(appDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(appDir);
  } catch {
    return [];
  }
  const stray = names.filter((n) => n.startsWith(TMP_PREFIX));
  for (const n of stray) unlinkSync(join(appDir, n));
  return stray;
}
