// `upshift status` says where the latest run of a track stopped: the stage whose gate failed
// it, never the end state twice ("failed at failed"). A real pipeline, then the built CLI.
import t from 'tap';
import { nodeStatus, runPlace, storedManifestsView } from '../../src/runtime/status.js';
import { toHex } from '../../src/trust/bytes.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { testAuthority } from '../helpers/authority.js';
import { diag, runCli } from '../helpers/cli.js';

t.test('a run that failed its tests is reported as failed at test', async (t) => {
  const a = await testAuthority(t);
  a.commitVersion({ version: 'v1.1.0', latencyMs: 10, failingTests: 3 });
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'failed', done.reason ?? '');
  t.equal(done.stage, 'failed', 'the run record keeps its end state as its stage');
  const latest = (await nodeStatus(a.service.deps.config, a.service.deps.store)).tracks.testnet?.latest_run;
  t.match(latest, { status: 'failed', stage: 'failed', stopped_at: 'test' });
  t.equal(runPlace(latest!), 'failed at test');
  t.equal(runPlace({ status: 'running', stage: 'benchmarking', stopped_at: null }), 'running at benchmarking');
  t.equal(runPlace({ status: 'completed', stage: 'completed', stopped_at: null }), 'completed');

  // the fleet read model, as heartbeats left it: one node heard just now, one long ago
  const now = Date.now();
  const node = (id: string, heardAt: number) => ({ node: id, heardAt, labels: {}, health: 'ok' as const, errorRate: 0, smoke: null, tracks: {} });
  await a.service.deps.store.fleet.record([node('web-1', now), node('web-2', now - 3_600_000)]);
  t.match((await nodeStatus(a.service.deps.config, a.service.deps.store, { now })).fleet, { heard: 2, silent: 1 });

  const r = await runCli(['--config', a.ws.configPath, 'status']);
  t.equal(r.code, 0, 'exit 0', diag(r));
  t.match(r.stdout, /fleet: 2 node\(s\) heard, 1 silent/);
  t.match(r.stdout, /latest run \S+ \S+ failed at test/);
  t.notMatch(r.stdout, /failed at failed/);
});

t.test('the stored manifests a daemon without an agent shows are verified when they change, not per request', async (t) => {
  const a = await testAuthority(t);
  const { store } = a.service.deps;
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  await a.service.orchestrator.drive(run.id); // the release is held for gossip
  // a copy of the config whose trusted keys we swap after the first read: a view that
  // verified again would then refuse what it holds, so it shows whether it did
  const config = structuredClone(a.service.deps.config);
  const view = storedManifestsView(config, store);
  const seq = async () => (await view()).payloads('testnet')[0]?.seq ?? null;
  t.equal(await seq(), 1, 'verified on the first read');
  config.trust = { ...config.trust, keys: [{ public: toHex(signerFromSeed(new Uint8Array(32).fill(9)).publicKey) }] } as typeof config.trust;
  for (let i = 0; i < 5; i++) t.equal(await seq(), 1, `read ${i + 2}: not verified again`);
  a.commitVersion({ version: 'v1.2.0', latencyMs: 10 });
  const next = (await a.service.startOrFind(await a.service.resolve('main'))).run;
  await a.service.orchestrator.drive(next.id);
  t.equal(await seq(), null, 'a change in the store is verified again (and under the swapped keys refused)');
});
