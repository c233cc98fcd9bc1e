// Blue-green through the whole system (issue 12): an authority daemon and two node daemons,
// each with app.blue_green (the proxy in the daemon on the app's port, two slot ports), and a
// deployment key with strategy blue_green. v1 lands in slot blue; then v2 rolls out one node
// at a time while a client sends a steady stream of requests through both nodes' proxies:
// none may fail, every node ends on v2 in slot green with blue stopped after its drain.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { sleep, type Daemon } from '../../../scripts/demo/fleet.js';
import { waitForRun } from '../../../scripts/demo/watch.js';
import { readSlots } from '../../../src/node/apply/slots.js';
import { startTestFleet } from '../../helpers/loopback-fleet.js';
import { traffic } from '../../node/apply/blue-green/blue-green-bed.js';

const { fleet, store } = await startTestFleet(t, 'upshift-bg-fleet-', {
  nodes: 2,
  blueGreen: { drain: '1s' },
  authority: {
    poll: '* * * * * *',
    canary: { fraction: 0.5, soak: '3s', check_every: '500ms', heartbeat_timeout: '6s', labels: ['region'] },
    deployments: { testnet: { strategy: 'blue_green', max_parallel: 1, min_healthy: '1s', healthy_deadline: '30s', progress_deadline: '150s' } },
  },
});

const appDir = (n: Daemon) => n.appDir as string;
async function eventually(ok: () => boolean, ms = 90_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) return false;
    await sleep(300);
  }
  return true;
}
const onSlot = (slot: 'blue' | 'green', version: string) => () => fleet.nodes.every((n) => {
  const s = readSlots(appDir(n));
  return s?.active.slot === slot && s.active.release.startsWith(`${version}-`) && s.retiring === null;
});

t.test('a blue_green deployment of v2 under a steady stream of requests through every node drops none', async (t) => {
  const c1 = fleet.commit({ version: 'v1', latencyMs: 10 });
  const r1 = await waitForRun(store, 'testnet', c1, { timeoutMs: 240_000 });
  t.equal(r1.status, 'completed', r1.reason ?? '');
  t.ok(await eventually(onSlot('blue', c1)), 'every node serves v1 from slot blue');

  const loads = fleet.nodes.map((n) => traffic(n.appPort as number, 2, '/work'));
  const c2 = fleet.commit({ version: 'v2', latencyMs: 10 });
  const r2 = await waitForRun(store, 'testnet', c2, { timeoutMs: 240_000 });
  t.equal(r2.status, 'completed', r2.reason ?? '');
  t.ok(await eventually(onSlot('green', c2)), 'every node serves v2 from slot green, its drain done');
  const marks = loads.map((l) => l.sent());
  while (loads.some((l, i) => l.sent() < (marks[i] as number) + 20)) await sleep(20);
  await Promise.all(loads.map((l) => l.stop()));

  loads.forEach((l, i) => {
    const node = fleet.nodes[i] as Daemon;
    t.comment(`${node.id}: requests sent ${l.sent()}, answered by v1 ${l.seen.get('v1') ?? 0}, by v2 ${l.seen.get('v2') ?? 0}, failed ${l.errors.length}`);
    t.same(l.errors, [], `${node.id}: no request failed`);
    t.ok((l.seen.get('v1') ?? 0) > 0 && (l.seen.get('v2') ?? 0) > 0, `${node.id}: answered by v1, then by v2`);
    t.notOk(existsSync(join(node.dir, 'slot-blue.pid')), `${node.id}: blue was stopped`);
  });
  const d = await store.deployments.forRun(r2.id);
  t.equal(d?.strategy, 'blue_green');
  t.equal(d?.status, 'succeeded');
});
