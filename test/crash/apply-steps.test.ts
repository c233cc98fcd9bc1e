// kill -9 at every step of an apply (and of a rollback) with a real child process; a
// second process then reconciles. At every point `current` names an existing release, and
// afterwards the journal has no open apply and says how the apply ended.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { applyBed } from '../node/apply/apply-child.js';

interface Case {
  point: string;
  /** v2's health fails, so the apply reaches the rollback failpoints. */
  unhealthy?: boolean;
  /** How the apply of v2 ends after reconciliation. */
  ends: 'abandoned' | 'rolled_back' | 'confirmed';
  /** Where `current` ends up. */
  on: 'v1' | 'v2';
  bad?: boolean;
}

// Each case has its own bed and children; two run side by side (a child mostly waits on git and health).
// Every apply runs in a child: this process answers every bed's health probes, and more cases at once
// starve it under load (a probe missing its timeout fails the apply: 1 s did, once, beside the
// acceptance files; the bed's is 3 s).
t.jobs = 2;

const cases: Case[] = [
  { point: 'apply:verified', ends: 'abandoned', on: 'v1' },
  { point: 'apply:fetched', ends: 'abandoned', on: 'v1' },
  { point: 'apply:hooks-done', ends: 'abandoned', on: 'v1' },
  { point: 'apply:staged', ends: 'abandoned', on: 'v1' },
  { point: 'apply:symlinked', ends: 'rolled_back', on: 'v1' },
  { point: 'apply:switched', ends: 'confirmed', on: 'v2' },
  { point: 'apply:restarted', ends: 'confirmed', on: 'v2' },
  { point: 'apply:probation', ends: 'confirmed', on: 'v2' },
  { point: 'apply:healthy', ends: 'confirmed', on: 'v2' },
  { point: 'apply:confirmed', ends: 'confirmed', on: 'v2' },
  { point: 'rollback:started', unhealthy: true, ends: 'rolled_back', on: 'v1', bad: true },
  { point: 'rollback:symlinked', unhealthy: true, ends: 'rolled_back', on: 'v1', bad: true },
  { point: 'rollback:switched', unhealthy: true, ends: 'rolled_back', on: 'v1', bad: true },
  { point: 'rollback:done', unhealthy: true, ends: 'rolled_back', on: 'v1', bad: true },
];

for (const c of cases) {
  t.test(`killed at ${c.point}, the node comes back with a valid current and a reconciled journal`, async (t) => {
    const bed = await applyBed(t);
    const v1 = await bed.release('v1');
    const first = await bed.child('apply', bed.manifest(v1, 1));
    if (first.out?.ok !== true) throw new Error(`v1 was not applied: ${first.stderr}${JSON.stringify(first.out)}`);
    const v2 = await bed.release('v2', { healthy: !c.unhealthy });
    const names = { v1: `v1-${v1.commit.slice(0, 12)}`, v2: `v2-${v2.commit.slice(0, 12)}` };

    const crashed = await bed.child('apply', bed.manifest(v2, 2), { UPSHIFT_FAILPOINTS: c.point });
    t.equal(crashed.signal, 'SIGKILL', `the child died at ${c.point}: ${crashed.stderr}${JSON.stringify(crashed.out)}`);
    t.ok(bed.currentValid(), 'current is valid right after the kill');
    t.ok(existsSync(join(bed.stateDir, 'apply.lock')), 'the dead process left its lock behind');

    const restarted = await bed.child('reconcile');
    t.equal(restarted.code, 0, `reconcile succeeds: ${restarted.stderr}${JSON.stringify(restarted.out)}`);
    t.ok(bed.currentValid(), 'current is valid after reconcile');
    t.equal(bed.current(), `releases/${names[c.on]}`, `current is on ${c.on}`);
    const tables = bed.tables();
    t.equal(tables.open(), null, 'no open apply');
    const apply = (await tables.list()).find((a) => a.version === 'v2');
    t.equal(apply?.state, c.ends, `the apply of v2 ended ${c.ends}`);
    t.equal((await tables.badVersions()).some((b) => b.version === 'v2'), c.bad === true, c.bad ? 'v2 is marked bad' : 'v2 is not marked bad');
    t.equal(await bed.store().floors.get('testnet'), c.ends === 'confirmed' ? 2 : 1, 'the floor follows only a confirmed apply');
    t.notOk(existsSync(join(bed.stateDir, 'apply.lock')), 'the lock is released');
    t.same(readdirSync(bed.appDir).filter((n) => n.startsWith('current.tmp-')), [], 'no stray temporary link');
    // Killed at rollback:done, the dir of the bad release outlives the process; pruning takes it later.
    if (c.ends !== 'confirmed' && c.point !== 'rollback:done') t.notOk(bed.releases().includes(names.v2), 'the unused v2 release dir is removed');
    if (c.point === 'apply:switched' || c.point === 'apply:restarted') {
      t.match(bed.restarts().at(-1), `reconcile ${names.v2}`, 'the app is restarted on v2 by reconcile');
    }

    const again = await bed.child('reconcile');
    t.same(again.out, { ok: true, result: null }, 'a second reconcile finds nothing to do');
  });
}
