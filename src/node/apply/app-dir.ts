// The app dir is where releases are fetched and run from, so whoever can write to it or
// redirect it runs code as the daemon. Before anything is fetched, app.dir and the
// directories upshift keeps in it (releases/, shared/, floors/) must be real directories
// (not symlinks), owned by the daemon's uid or root, and not writable by group or others;
// `current` is the one symlink expected there. Missing ones are created 0755.
import { lstatSync, mkdirSync, readlinkSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { UpshiftError } from '../../core/errors.js';
import { CURRENT, fsyncDir } from './switch.js';

export const APP_SUBDIRS = ['releases', 'shared', 'floors'] as const;

/** Create what is missing and check every directory; E_UNSAFE_PATH naming the path and the fix. */
export function ensureAppDir(appDir: string): void {
  ensureDir(appDir, true);
  for (const sub of APP_SUBDIRS) ensureDir(join(appDir, sub), false);
  const current = join(appDir, CURRENT);
  const st = lstatOrNull(current);
  if (st && !st.isSymbolicLink()) {
    const why = 'is not a symlink; upshift manages it as current → releases/<release>';
    throw unsafe(current, why, `move it out of the way (mv ${current} ${current}.old)`);
  }
}

function ensureDir(path: string, recursive: boolean): void {
  let st = lstatOrNull(path);
  if (st === null) {
    // mkdir does not follow a link that appears meanwhile (EEXIST), and the lstat below sees it.
    mkdirSync(path, { recursive, mode: 0o755 });
    fsyncDir(dirname(path));
    st = lstatSync(path);
  }
  checkSafe(path, st, 'a directory');
}

/** Refuse a symlink, another kind of file, a foreign owner, or group/other write. */
export function checkSafe(path: string, st: Stats, kind: 'a directory' | 'a regular file'): void {
  const uid = process.getuid?.() ?? 0;
  if (st.isSymbolicLink()) {
    const why = `is a symlink to ${readlinkSync(path)}; upshift does not fetch into or run from a linked path`;
    throw unsafe(path, why, `replace it with ${kind} owned by uid ${uid}`);
  }
  if (kind === 'a directory' ? !st.isDirectory() : !st.isFile()) {
    throw unsafe(path, `is not ${kind}`, `replace it with ${kind} owned by uid ${uid}`);
  }
  if (st.uid !== uid && st.uid !== 0) {
    throw unsafe(path, `is owned by uid ${st.uid}, not by this daemon's uid ${uid} or root`, `chown ${uid} ${path}`);
  }
  if ((st.mode & 0o022) !== 0) {
    const mode = (st.mode & 0o7777).toString(8);
    throw unsafe(path, `has mode 0${mode}: writable by group or others`, `chmod go-w ${path}`);
  }
}

function unsafe(path: string, what: string, fix: string): UpshiftError {
  return new UpshiftError('E_UNSAFE_PATH', `${path} ${what}: ${fix}`, { details: { path, fix } });
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
