// One apply at a time per node, a dead holder's lock is broken, and pruning never takes
// `current` or the release before it.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { planPrune } from '../../../src/node/apply/prune.js';
import { applyBed } from './apply-child.js';

t.test('a second apply while one is running is refused with E_APPLY_LOCKED', async (t) => {
  const bed = await applyBed(t, { app: { min_healthy: '1s' } });
  const v1 = await bed.release('v1');
  const v2 = await bed.release('v2');
  const first = bed.engine().applyManifest(bed.manifest(v1, 1));
  while (!existsSync(join(bed.stateDir, 'apply.lock'))) await new Promise((r) => setTimeout(r, 10));
  // Another engine over the same state, as the OTA timer's process would have.
  await t.rejects(bed.engine().applyManifest(bed.manifest(v2, 2)), { code: 'E_APPLY_LOCKED', message: /apply on node-a/ });
  await t.rejects(bed.engine().reconcile(), { code: 'E_APPLY_LOCKED' }, 'reconcile waits its turn too');
  const done = await first;
  t.equal(done.apply?.version, 'v1', 'the first apply finishes undisturbed');
  t.equal(bed.tables().list().length, 1, 'the refused apply journaled nothing');
  t.equal((await bed.store().events({ limit: 100 })).filter((e) => e.kind === 'apply.refused' && e.data.code === 'E_APPLY_LOCKED').length, 2);
  t.notOk(existsSync(join(bed.stateDir, 'apply.lock')), 'the lock is released');
  const second = await bed.engine().applyManifest(bed.manifest(v2, 2));
  t.equal(second.apply?.state, 'confirmed', 'and the next apply goes ahead');
});

t.test('a lock left by a dead process is broken; a garbled one too', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(bed.stateDir, { recursive: true });
  writeFileSync(join(bed.stateDir, 'apply.lock'), JSON.stringify({ pid: Number(dead.stdout), started: '1', token: 'x', holder: 'ghost', at: 0 }));
  t.equal((await bed.engine().applyManifest(bed.manifest(v1, 1))).apply?.state, 'confirmed');
  const v2 = await bed.release('v2');
  writeFileSync(join(bed.stateDir, 'apply.lock'), '');
  t.equal((await bed.engine().applyManifest(bed.manifest(v2, 2))).apply?.state, 'confirmed');
});

t.test('pruning keeps keep_releases, always with current and the previous release', async (t) => {
  const bed = await applyBed(t, { app: { keep_releases: 2, min_healthy: '0s' } });
  const names: string[] = [];
  for (let i = 1; i <= 4; i++) {
    const r = await bed.release(`v${i}`);
    await bed.engine().applyManifest(bed.manifest(r, i));
    names.push(`v${i}-${r.commit.slice(0, 12)}`);
  }
  t.same(bed.releases(), [names[2], names[3]].sort(), 'current (v4) and previous (v3) survive');
  t.equal(bed.current(), `releases/${names[3]}`);
});

t.test('planPrune: what is removed, by rank', async (t) => {
  const lastUse = new Map([['a', 1], ['b', 2], ['c', 3], ['d', 4]]);
  const mtime = new Map([['x', 10], ['y', 20]]);
  const cases: Array<{ name: string; names: string[]; keep: number; protect: Array<string | null>; remove: string[] }> = [
    { name: 'the least recently used go first', names: ['a', 'b', 'c', 'd'], keep: 3, protect: ['d', 'c'], remove: ['a'] },
    { name: 'protected releases count toward keep', names: ['a', 'b', 'c', 'd'], keep: 2, protect: ['d', 'c'], remove: ['b', 'a'] },
    { name: 'an old previous release is kept even when newer ones are not', names: ['a', 'b', 'c', 'd'], keep: 2, protect: ['d', 'a'], remove: ['c', 'b'] },
    { name: 'protection beyond keep removes every unprotected one', names: ['a', 'b', 'c'], keep: 2, protect: ['c', 'b', 'a'], remove: [] },
    { name: 'unknown dirs rank below journaled ones, newest mtime first', names: ['x', 'y', 'a', 'd'], keep: 3, protect: ['d'], remove: ['x'] },
    { name: 'a first install has no previous', names: ['a', 'b'], keep: 2, protect: ['b', null], remove: [] },
    { name: 'a protected name that is not on disk takes no room', names: ['a', 'b', 'c'], keep: 2, protect: ['c', 'gone'], remove: ['a'] },
  ];
  for (const c of cases) t.same(planPrune({ names: c.names, keep: c.keep, protect: c.protect, lastUse, mtime }), c.remove, c.name);
});
