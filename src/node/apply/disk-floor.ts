// The rollback floor kept beside the releases (SPEC "Trust": a node never goes below the
// highest seq it applied). The SQLite floor alone is lost with the database, or lowered by
// restoring an old backup of it; `app.dir/floors/<track>.json` records the newest release
// this node confirmed on each track, and a manifest below either floor is refused.
// Written atomically (temp file, fsync, rename, fsync the directory) after the database
// confirms, so it is never above a release that did not pass probation.
import { randomBytes } from 'node:crypto';
import {
  closeSync, fsyncSync, lstatSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { UpshiftError } from '../../core/errors.js';
import type { ManifestPayload } from '../../core/manifest.js';
import { checkSafe } from './app-dir.js';
import { fsyncDir } from './switch.js';

export interface DiskFloor {
  track: string;
  seq: number;
  version: string;
  commit: string;
  /** The release dir name under releases/ that was confirmed at this seq. */
  release: string;
  confirmed_at: string;
}

export function floorFile(appDir: string, track: string): string {
  return join(appDir, 'floors', `${track}.json`);
}

/** The floor record of a track, or null when none was written. Fails closed on anything odd. */
export function readDiskFloor(appDir: string, track: string): DiskFloor | null {
  const file = floorFile(appDir, track);
  let st: Stats;
  try {
    st = lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  checkSafe(file, st, 'a regular file');
  let rec: Partial<DiskFloor>;
  try {
    rec = JSON.parse(readFileSync(file, 'utf8')) as Partial<DiskFloor>;
  } catch (err) {
    throw corrupt(file, track, (err as Error).message);
  }
  if (rec?.track !== track || !Number.isSafeInteger(rec.seq) || (rec.seq as number) < 1) {
    throw corrupt(file, track, 'it does not name this track and a positive seq');
  }
  return rec as DiskFloor;
}

/** Refuse a manifest below the floor on disk (equal passes: the journal may need rebuilding). */
export function checkDiskFloor(appDir: string, p: ManifestPayload): void {
  const floor = readDiskFloor(appDir, p.track);
  if (floor === null || p.seq >= floor.seq) return;
  const file = floorFile(appDir, p.track);
  throw new UpshiftError(
    'E_ROLLBACK',
    `manifest ${p.track}#${p.seq} is below the floor ${floor.seq} kept in ${file} (this node confirmed ` +
      `releases/${floor.release ?? '?'} at that seq); a rollback is a new manifest with a higher seq`,
    { details: { seq: p.seq, floor: floor.seq, track: p.track, file } },
  );
}

/** Raise the floor on disk to `rec.seq`; a lower or equal seq leaves the file as it is. */
export function raiseDiskFloor(appDir: string, rec: DiskFloor): void {
  const have = readDiskFloor(appDir, rec.track);
  if (have !== null && have.seq >= rec.seq) return;
  const dir = join(appDir, 'floors');
  const tmp = join(dir, `.${rec.track}.json.tmp-${randomBytes(6).toString('hex')}`);
  // 'wx': never through a link or over a file someone placed at the temp name.
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, `${JSON.stringify(rec, null, 2)}\n`);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, floorFile(appDir, rec.track));
  fsyncDir(dir);
}

function corrupt(file: string, track: string, why: string): UpshiftError {
  return new UpshiftError(
    'E_STATE_CORRUPT',
    `floor file ${file} cannot be read (${why}); it holds the newest seq this node confirmed on "${track}": ` +
      `restore it, or write {"track": "${track}", "seq": N} with that seq`,
    { details: { file, track } },
  );
}
