// Blue-green on one node with real processes: a sample HTTP app started in two slots by the
// restart command (UPSHIFT_PORT, UPSHIFT_SLOT), the daemon's TCP proxy in front, and a client
// sending a steady stream of requests through it while the engine switches v1 → v2.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { validateConfig } from '../../../../src/core/config.js';
import { readSlots } from '../../../../src/node/apply/slots.js';
import { SlotProxy } from '../../../../src/node/traffic/proxy.js';
import { processGone, waitGone } from '../../../helpers/procs.js';
import { applyBed } from '../apply-child.js';
import { bgManifest, blueGreenBed, get, traffic } from './blue-green-bed.js';

t.test('a blue-green switch from v1 to v2 under a steady stream of requests drops none of them', async (t) => {
  const g = await blueGreenBed(t);
  const v1 = await g.release('v1');
  await g.bed.engine().applyManifest(bgManifest(g.bed, v1, 1));
  t.match(readSlots(g.bed.appDir), { active: { slot: 'blue', port: g.ports.blue, release: `v1-${v1.commit.slice(0, 12)}` }, retiring: null });
  t.same(await get(g.ports.listen), { ok: true, body: 'v1' }, 'the proxy serves v1 from the blue slot');
  const bluePid = g.pid('blue');

  const load = traffic(g.ports.listen);
  while ((load.seen.get('v1') ?? 0) < 20) await new Promise((r) => setTimeout(r, 10));
  const v2 = await g.release('v2');
  const out = await g.bed.engine().applyManifest(bgManifest(g.bed, v2, 2));
  // keep going a little on v2 alone, with blue stopped
  const after = load.sent();
  while (load.sent() < after + 50) await new Promise((r) => setTimeout(r, 10));
  await load.stop();
  t.comment(`requests sent: ${load.sent()}, answered by v1: ${load.seen.get('v1') ?? 0}, by v2: ${load.seen.get('v2') ?? 0}, failed: ${load.errors.length}`);

  t.equal(out.apply?.state, 'confirmed');
  t.same(load.errors, [], 'no request failed');
  t.equal((load.seen.get('v1') ?? 0) + (load.seen.get('v2') ?? 0), load.sent(), 'every request was answered by v1 or v2');
  t.ok((load.seen.get('v2') ?? 0) >= 50, 'v2 answered after the flip');
  const v2Name = `v2-${v2.commit.slice(0, 12)}`;
  t.match(readSlots(g.bed.appDir), { active: { slot: 'green', port: g.ports.green, release: v2Name }, retiring: null });
  t.equal(g.bed.current(), `releases/${v2Name}`, 'current follows the flip');
  t.same(g.log('starts'), [`apply v1-${v1.commit.slice(0, 12)} blue ${g.ports.blue}`, `apply ${v2Name} green ${g.ports.green}`]);
  t.same(g.log('stops'), [`drained v1-${v1.commit.slice(0, 12)} blue ${g.ports.blue}`], 'the old slot was stopped, once');
  await waitGone(bluePid, 5000);
  t.ok(processGone(bluePid), 'the v1 process is gone');
  const events = await g.bed.store().events({ limit: 1000 });
  const flipped = events.filter((e) => e.kind === 'app.slot_flipped');
  const stopped = events.find((e) => e.kind === 'app.slot_stopped')!;
  t.match(flipped.map((e) => e.data), [{ from: null, to: 'blue' }, { from: 'blue', to: 'green', port: g.ports.green, release: v2Name }]);
  t.match(stopped.data, { slot: 'blue', port: g.ports.blue });
  const until = flipped[1]!.data.drain_until as number;
  t.ok(until - 1000 <= flipped[1]!.at, 'the drain runs 1s from the flip');
  t.ok(stopped.at >= until, 'blue was stopped only once the drain had passed');
});

t.test('a v2 that fails its probe in the green slot is stopped; v1 keeps serving in blue, untouched', async (t) => {
  const g = await blueGreenBed(t);
  const v1 = await g.release('v1');
  await g.bed.engine().applyManifest(bgManifest(g.bed, v1, 1));
  const bluePid = g.pid('blue');
  const before = readFileSync(join(g.bed.appDir, 'slots.json'), 'utf8');

  const load = traffic(g.ports.listen, 2);
  const v2 = await g.release('v2', false);
  await t.rejects(g.bed.engine().applyManifest(bgManifest(g.bed, v2, 2)), { code: 'E_HEALTH', details: { state: 'rolled_back' }, message: /slot green/ });
  const greenPid = g.pid('green');
  const after = load.sent();
  while (load.sent() < after + 20) await new Promise((r) => setTimeout(r, 10));
  await load.stop();
  t.comment(`requests sent: ${load.sent()}, answered by v1: ${load.seen.get('v1') ?? 0}, failed: ${load.errors.length}`);

  t.same(load.errors, [], 'no request failed');
  t.same([...load.seen.keys()], ['v1'], 'only v1 ever answered');
  t.equal(readFileSync(join(g.bed.appDir, 'slots.json'), 'utf8'), before, 'slots.json unchanged');
  t.equal(g.bed.current(), `releases/v1-${v1.commit.slice(0, 12)}`, 'current still on v1');
  t.equal(g.pid('blue'), bluePid, 'blue was not restarted');
  t.notOk(processGone(bluePid), 'the v1 process still runs');
  await waitGone(greenPid, 5000);
  t.same(g.log('starts'), [`apply v1-${v1.commit.slice(0, 12)} blue ${g.ports.blue}`, `apply v2-${v2.commit.slice(0, 12)} green ${g.ports.green}`]);
  t.same(g.log('stops'), [`abandoned v2-${v2.commit.slice(0, 12)} green ${g.ports.green}`]);
  t.match(g.bed.tables().badVersions(), [{ version: 'v2', reason: /healthy_deadline/ }], 'v2 is marked bad');
  t.match((await g.bed.engine().applyStatus()).testnet, { version: 'v2', state: 'rolled_back', running: { version: 'v1' } }, 'heartbeats report the failure');
  t.same(g.bed.releases(), [`v1-${v1.commit.slice(0, 12)}`], 'the failed release dir is gone');
});

t.test('after a daemon restart the proxy serves the persisted slot, and boot starts it there if it is down', async (t) => {
  const g = await blueGreenBed(t, '100ms');
  const v1 = await g.release('v1');
  const v2 = await g.release('v2');
  await g.bed.engine().applyManifest(bgManifest(g.bed, v1, 1));
  await g.bed.engine().applyManifest(bgManifest(g.bed, v2, 2));
  await g.proxy.stop();
  const greenPid = g.pid('green');
  process.kill(greenPid, 'SIGKILL');
  await waitGone(greenPid, 5000);

  const proxy = new SlotProxy(g.bed.appDir, `127.0.0.1:${g.ports.listen}`);
  await proxy.start();
  t.teardown(() => proxy.stop());
  t.equal(proxy.target(), g.ports.green, 'the new proxy sends traffic to green');
  const boot = await g.bed.engine().startIfDown();
  t.match(boot, { action: 'started', release: `v2-${v2.commit.slice(0, 12)}` });
  t.equal(g.log('starts').at(-1), `boot v2-${v2.commit.slice(0, 12)} green ${g.ports.green}`, 'started in its own slot, on its port');
  let r = await get(g.ports.listen);
  while (!r.ok) r = await get(g.ports.listen); // the app takes a moment to listen
  t.same(r, { ok: true, body: 'v2' });
});

t.test('a node without app.blue_green refuses a blue-green release; nothing is journaled', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  await t.rejects(bed.engine().applyManifest(bgManifest(bed, v1, 1)), { code: 'E_NO_BLUE_GREEN', message: /app\.blue_green/ });
  t.equal(bed.tables().list().length, 0, 'no apply journaled');
  t.same(bed.restarts(), [], 'nothing restarted');
  const refused = (await bed.store().events({ limit: 100 })).filter((e) => e.kind === 'apply.refused');
  t.match(refused, [{ data: { code: 'E_NO_BLUE_GREEN' } }]);
});

t.test('app.blue_green: two different ports, neither the listen port', async (t) => {
  const app = (bg: Record<string, unknown>) => ({
    node: { id: 'n1' }, fleet: 'edge', trust: { keys: [{ public: 'a'.repeat(64) }] },
    app: { dir: 'app', remote: 'r', restart: 'true', health: { url: 'http://127.0.0.1:8080/healthz' }, blue_green: { listen: '0.0.0.0:8080', stop: 'true', ...bg } },
  });
  t.equal(validateConfig(app({ ports: [8081, 8082] })).app?.blue_green?.drain, 10_000, 'drain defaults to 10s');
  t.throws(() => validateConfig(app({ ports: [8081, 8081] })), { code: 'E_CONFIG', message: /app\.blue_green\.ports: expected two different ports/ });
  t.throws(() => validateConfig(app({ ports: [8080, 8082] })), { code: 'E_CONFIG', message: /app\.blue_green\.ports\.0: expected a port other than listen's \(8080\)/ });
  t.throws(() => validateConfig(app({ ports: [8081] })), { code: 'E_CONFIG', message: /app\.blue_green\.ports/ });
  t.throws(() => validateConfig(app({ ports: [8081, 8082], listen: '8080' })), { code: 'E_CONFIG', message: /app\.blue_green\.listen: expected host:port/ });
});
