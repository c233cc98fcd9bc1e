import t from 'tap';
import { verifyManifest } from '../../src/trust/verify-manifest.js';
import { testAuthority } from '../helpers/authority.js';
import { fleetDouble, virtualClock, type SimNode } from '../helpers/fleet-double.js';

const fleet = (n: number, extra: (i: number) => Partial<SimNode> = () => ({})): SimNode[] =>
  Array.from({ length: n }, (_, i) => ({ id: `node-${i}`, region: ['eu', 'us'][i % 2] as string, errorRate: 0.01, ...extra(i) }));

async function setup(t: Tap.Test, nodes: SimNode[]) {
  const { clock, sleeps } = virtualClock();
  let port: ReturnType<typeof fleetDouble> | null = null;
  const a = await testAuthority(t, {
    authority: { canary: { fraction: 0.1, soak: '30m', check_every: '1m' } },
    overrides: { clock, fleet: { reports: () => port!.port.reports(), canaryCandidates: (tr) => port!.port.canaryCandidates(tr), publish: (e, tr) => port!.port.publish(e, tr), convergence: (tr) => port!.port.convergence(tr) } },
  });
  port = fleetDouble(nodes, a.service.deps.keyset, clock);
  return { a, published: port.published, sleeps };
}

async function releaseBaseline(a: Awaited<ReturnType<typeof setup>>['a']) {
  const first = a.service.startOrFind(await a.service.resolve('main')).run;
  const done = await a.service.orchestrator.drive(first.id);
  if (done.status !== 'completed') throw new Error(`baseline ${done.status}: ${done.reason}`);
  return first;
}

t.test('a healthy canary soaks for the whole soak, then the fleet gets a manifest above the canary seq', async (t) => {
  const { a, published, sleeps } = await setup(t, fleet(20));
  const { run } = a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'completed', done.reason ?? '');
  const canary = a.service.deps.store.getStageResult(run.id, 'canary');
  t.equal((canary?.evidence.canaries as string[]).length, 2, '10% of 20, rounded up');
  t.match(canary?.reason, /2 canary node\(s\) soaked: all five canary criteria hold/);
  t.equal(sleeps.slice(0, 30).reduce((s, x) => s + x, 0), 30 * 60_000, 'the soak lasted its 30 minutes of (virtual) time');
  t.same(published.map((p) => [p.seq, Array.isArray(p.targets) ? 'canaries' : p.targets]), [[2, 'canaries'], [3, 'all']], 'release #1 held back; canary #2; fleet #3');
});

t.test('a canary whose health fails is rolled back there with a signed rollback; the rest never see the release', async (t) => {
  const nodes = fleet(10);
  const { a, published } = await setup(t, nodes);
  const base = await releaseBaseline(a);
  const head = a.commitVersion({ version: 'v2', latencyMs: 10 });
  for (const n of nodes) n.unhealthyOn = head;
  const { run } = a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'rolled_back');
  t.match(done.reason, /canary failed on node-\d: health: health probe failing on node-\d/);
  const canary = a.service.deps.store.getStageResult(run.id, 'canary');
  const canaries = canary?.evidence.canaries as string[];
  t.equal(canaries.length, 1);
  const after = published.slice(-2);
  t.same(after.map((p) => [p.kind, p.targets, p.commit]), [['release', canaries, head], ['rollback', canaries, base.commit]], 'canary manifest, then a rollback to the stable commit, both to the canaries only');
  t.ok(after[1]!.seq > after[0]!.seq, 'the rollback has the higher seq');
  t.notOk(published.some((p) => p.commit === head && p.targets === 'all'), 'the release never went fleet-wide');
  const rollback = a.service.deps.store.manifests.forRun(run.id, 'rollback');
  t.equal(verifyManifest(rollback?.envelope ?? '', a.service.deps.keyset).payload.kind, 'rollback');
});

t.test('an error-rate rise on the canaries beyond +50% of the control group is caught', async (t) => {
  const nodes = fleet(10);
  const { a } = await setup(t, nodes);
  await releaseBaseline(a);
  a.commitVersion({ version: 'v2', latencyMs: 10 });
  const { run } = a.service.startOrFind(await a.service.resolve('main'));
  // the canary set is fixed by the run id: make exactly those nodes error more
  const { selectCanaries } = await import('../../src/core/decisions/canary.js');
  const chosen = selectCanaries(nodes.map((n) => ({ id: n.id, labels: { region: n.region }, verified: true, healthy: true })), { fraction: 0.1, labels: ['region'], seed: run.id }).canaries;
  for (const n of nodes) if (chosen.includes(n.id)) n.errorRate = 0.05;
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'rolled_back');
  t.match(done.reason, /error_rate: canary 0\.0500 vs control 0\.0100/);
});

t.test('a canary whose checkout was tampered with fails the code-hash criterion', async (t) => {
  const nodes = fleet(4, () => ({ tamperHash: 'f'.repeat(64) }));
  const { a } = await setup(t, nodes);
  const { run } = a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'rolled_back');
  t.match(done.reason, /code_hash: code hash differs from the manifest's [0-9a-f]{12} on node-\d \(ffffffffffff\)/);
});

t.test('a restarted authority continues the same soak with the same canaries', async (t) => {
  const nodes = fleet(10);
  const { a, sleeps } = await setup(t, nodes);
  const { run } = a.service.startOrFind(await a.service.resolve('main'));
  await a.service.orchestrator.drive(run.id, { until: 'stage' });
  while (a.service.deps.store.requireRun(run.id).stage !== 'canary') await a.service.orchestrator.drive(run.id, { until: 'stage' });
  // start the canary stage, then stop the driver mid-soak as a crash would
  const ctl = new AbortController();
  const driving = a.service.orchestrator.drive(run.id, { signal: ctl.signal });
  while (sleeps.length < 5) await new Promise((r) => setImmediate(r));
  ctl.abort();
  await driving;
  const plan = JSON.parse(a.service.deps.store.kv.get(`run:${run.id}:canary`) ?? 'null') as { canaries: string[]; deadline: number };
  t.equal(a.service.deps.store.requireRun(run.id).stage, 'canary', 'interrupted mid-soak');
  const before = sleeps.length;
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'completed');
  const evidence = a.service.deps.store.getStageResult(run.id, 'canary')?.evidence;
  t.same(evidence?.canaries, plan.canaries, 'the same canaries');
  t.equal(evidence?.deadline, new Date(plan.deadline).toISOString(), 'the same deadline');
  const soakSleeps = sleeps.slice(before).filter((ms) => ms <= 60_000);
  t.ok(soakSleeps.length < 30, `the resumed soak only slept out the remainder (${soakSleeps.length} checks)`);
});

t.test('a fleet that goes silent during deploy does not pass it: deploy waits for the progress deadline, then fails', async (t) => {
  const { a } = await setup(t, fleet(4, () => ({ silentAfterFleetWide: true })));
  const { run } = a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'failed');
  const deploy = a.service.deps.store.getStageResult(run.id, 'deploy');
  t.match(deploy?.reason, /progress deadline passed; behind: node-0 \(at seq \d+ \(silent\)\)/);
  t.same(deploy?.evidence.converged, [], 'nobody confirmed');
});
