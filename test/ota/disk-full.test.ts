// A disk that fills during the transfer: the staging dir on a small tmpfs, filled up by
// another writer while the bundle trickles in. Needs root (mount); skipped otherwise.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, readdirSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { exitCodeOf } from '../../src/ota/check.js';
import { tempDir } from '../helpers/tmp.js';
import { otaBed } from './ota-bed.js';

function mountTmpfs(t: Tap.Test, size: string): string | null {
  const dir = tempDir(t, 'upshift-small-');
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]).status !== 0) return null;
  t.teardown(() => void spawnSync('umount', [dir]));
  return dir;
}

/** Write zeros until the filesystem is full. */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

t.test('a disk that fills during the download is E_DISK_FULL; the node stays and the next check starts clean', async (t) => {
  const staging = mountTmpfs(t, '2m');
  if (staging === null) return void t.pass('skipped: mount is not permitted here (needs root)');
  const ota = await otaBed(t);
  const v1 = await ota.release('v1', 1);
  await ota.bed.engine().applyManifest(v1.manifest);
  const rel = await ota.bed.release('v2', { files: { 'blob.bin': randomBytes(400_000).toString('base64') } });
  const bundle = ota.archive(rel.commit);
  const v2 = { r: rel, tag: 'testnet-2', manifest: ota.bed.manifest(rel, 2), bundle, bundleName: `v2-${rel.commit.slice(0, 12)}.tar.gz` };
  const path = `/testnet/testnet-2/${v2.bundleName}`;
  ota.srv.files.set(path, { body: bundle, trickle: { bytes: 32 * 1024, everyMs: 50 } });
  ota.serve([v1, v2]);
  const filler = join(staging, 'filler');
  const checking = ota.check({}, { staging_dir: staging, min_rate: 0 });
  while (!ota.srv.log.some((l) => l.url === path)) await new Promise((r) => setTimeout(r, 10));
  fill(filler); // the room the pre-check saw is gone now
  const out = await checking;
  t.equal(out.error?.code, 'E_DISK_FULL', out.reason);
  t.equal(exitCodeOf(out), 1);
  t.equal(ota.bed.current(), `releases/v1-${v1.r.commit.slice(0, 12)}`, 'current unchanged');
  t.same(readdirSync(staging), ['filler'], 'the staging subdir is gone');

  rmSync(filler);
  ota.srv.files.set(path, { body: bundle });
  const next = await ota.check({}, { staging_dir: staging });
  t.equal(next.outcome, 'updated', next.reason);
  t.notOk(existsSync(filler));
});
