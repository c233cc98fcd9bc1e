// kill -9 of a real apply process at every step of a blue-green switch, with a client
// sending requests through the proxy the whole time (the proxy is the daemon's, which
// outlives an `ota check --apply` process); a second process then reconciles. Before the
// flip the new slot is stopped and v1 serves on; after it v2 is confirmed and blue drained.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { readSlots } from '../../../../src/node/apply/slots.js';
import { processGone, waitGone } from '../../../helpers/procs.js';
import { bgManifest, blueGreenBed, traffic } from './blue-green-bed.js';

const cases: Array<{ point: string; ends: 'rolled_back' | 'confirmed' }> = [
  { point: 'apply:restarted', ends: 'rolled_back' },
  { point: 'apply:probation', ends: 'rolled_back' },
  { point: 'apply:healthy', ends: 'rolled_back' },
  { point: 'apply:flipped', ends: 'confirmed' },
  { point: 'apply:switched', ends: 'confirmed' },
  { point: 'apply:confirmed', ends: 'confirmed' },
];

for (const c of cases) {
  t.test(`killed at ${c.point}: ${c.ends === 'confirmed' ? 'v2 confirmed, blue drained' : 'green stopped, v1 serves on'}, no request lost`, async (t) => {
    const g = await blueGreenBed(t, '300ms');
    const v1 = await g.release('v1');
    const v2 = await g.release('v2');
    const names = { v1: `v1-${v1.commit.slice(0, 12)}`, v2: `v2-${v2.commit.slice(0, 12)}` };
    await g.bed.engine().applyManifest(bgManifest(g.bed, v1, 1));
    const bluePid = g.pid('blue');
    const load = traffic(g.ports.listen, 2);

    const crashed = await g.bed.child('apply', bgManifest(g.bed, v2, 2), { UPSHIFT_FAILPOINTS: c.point });
    t.equal(crashed.signal, 'SIGKILL', `the child died at ${c.point}: ${crashed.stderr}${JSON.stringify(crashed.out)}`);
    const greenPid = g.pid('green');
    const restarted = await g.bed.child('reconcile');
    t.equal(restarted.code, 0, `reconcile succeeds: ${restarted.stderr}${JSON.stringify(restarted.out)}`);
    const after = load.sent();
    while (load.sent() < after + 20) await new Promise((r) => setTimeout(r, 10));
    await load.stop();
    t.comment(`requests sent: ${load.sent()}, v1: ${load.seen.get('v1') ?? 0}, v2: ${load.seen.get('v2') ?? 0}, failed: ${load.errors.length}`);
    t.same(load.errors, [], 'no request failed');

    const tables = g.bed.tables();
    t.equal(tables.open(), null, 'no open apply');
    t.equal((await tables.list()).find((a) => a.version === 'v2')?.state, c.ends);
    t.same(await tables.badVersions(), [], 'interrupted, not found wanting: v2 is not marked bad');
    if (c.ends === 'confirmed') {
      t.equal(g.bed.current(), `releases/${names.v2}`);
      t.match(readSlots(g.bed.appDir), { active: { slot: 'green', release: names.v2 }, retiring: null });
      t.same(g.log('stops'), [`drained ${names.v1} blue ${g.ports.blue}`], 'blue stopped once, after its drain');
      await waitGone(bluePid, 5000);
      t.notOk(processGone(greenPid), 'v2 serves in green');
      t.ok((load.seen.get('v2') ?? 0) >= 20, 'the proxy sends new connections to green');
    } else {
      t.equal(g.bed.current(), `releases/${names.v1}`);
      t.match(readSlots(g.bed.appDir), { active: { slot: 'blue', release: names.v1 }, retiring: null });
      t.same(g.log('stops'), [`abandoned ${names.v2} green ${g.ports.green}`], 'green stopped');
      await waitGone(greenPid, 5000);
      t.notOk(processGone(bluePid), 'v1 still serves in blue, never restarted');
      t.equal(g.pid('blue'), bluePid);
      t.same([...load.seen.keys()], ['v1'], 'only v1 answered');
      t.equal(readFileSync(join(g.bed.appDir, 'current', 'app.txt'), 'utf8'), 'v1');
    }
  });
}
