import t from 'tap';
import { verifyManifest } from '../../src/trust/verify-manifest.js';
import { testAuthority } from '../helpers/authority.js';
import { fleetDouble, virtualClock, type SimNode } from '../helpers/fleet-double.js';

// Every case has its own authority, repo and virtual clock: they run side by side.
t.jobs = 5;

const fleet = (n: number, extra: (i: number) => Partial<SimNode> = () => ({})): SimNode[] =>
  Array.from({ length: n }, (_, i) => ({ id: `node-${i}`, region: ['eu', 'us'][i % 2] as string, errorRate: 0.01, ...extra(i) }));

async function setup(t: Tap.Test, nodes: SimNode[], authority: Record<string, unknown> = {}) {
  const { clock, sleeps, advance } = virtualClock();
  let port: ReturnType<typeof fleetDouble> | null = null;
  const a = await testAuthority(t, {
    // CANARY is under test: the rest of the fleet moves in one wave (deployments are tested in test/deployments)
    authority: { canary: { fraction: 0.1, soak: '30m', check_every: '1m' }, deployments: { testnet: { max_parallel: '100%' } }, ...authority },
    overrides: { clock, fleet: { nodes: () => port!.port.nodes(), canaryCandidates: (tr) => port!.port.canaryCandidates(tr), publish: (e, tr) => port!.port.publish(e, tr) } },
  });
  port = fleetDouble(nodes, a.service.deps.keyset, clock);
  return { a, published: port.published, sleeps, clock, advance, freeze: port.freeze };
}

/** Drive a run into its canary soak, then stop the driver there, as a crash would. */
async function crashMidSoak(a: Awaited<ReturnType<typeof setup>>['a'], sleeps: number[], runId: string) {
  while ((await a.service.deps.store.requireRun(runId)).stage !== 'canary') await a.service.orchestrator.drive(runId, { until: 'stage' });
  const ctl = new AbortController();
  const driving = a.service.orchestrator.drive(runId, { signal: ctl.signal });
  const before = sleeps.length;
  while (sleeps.length < before + 5) await new Promise((r) => setImmediate(r));
  ctl.abort();
  await driving;
}

async function releaseBaseline(a: Awaited<ReturnType<typeof setup>>['a']) {
  const first = (await a.service.startOrFind(await a.service.resolve('main'))).run;
  const done = await a.service.orchestrator.drive(first.id);
  if (done.status !== 'completed') throw new Error(`baseline ${done.status}: ${done.reason}`);
  return first;
}

t.test('a healthy canary soaks for the whole soak, then the fleet gets a manifest above the canary seq', async (t) => {
  const { a, published, sleeps } = await setup(t, fleet(20));
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'completed', done.reason ?? '');
  const canary = await a.service.deps.store.getStageResult(run.id, 'canary');
  t.equal((canary?.evidence.canaries as string[]).length, 2, '10% of 20, rounded up');
  t.match(canary?.reason, /2 canary node\(s\) soaked: all five canary criteria hold/);
  t.equal(sleeps.slice(0, 30).reduce((s, x) => s + x, 0), 30 * 60_000, 'the soak lasted its 30 minutes of (virtual) time');
  t.same(published.map((p) => [p.seq, Array.isArray(p.targets) ? 'canaries' : p.targets]), [[2, 'canaries'], [3, 'canaries'], [4, 'all']],
    'release #1 held back; canary #2; one wave naming every node #3; then fleet-wide #4');
});

t.test('a canary whose health fails is rolled back there with a signed rollback; the rest never see the release', async (t) => {
  const nodes = fleet(10);
  const { a, published } = await setup(t, nodes);
  const base = await releaseBaseline(a);
  const head = a.commitVersion({ version: 'v2', latencyMs: 10 });
  for (const n of nodes) n.unhealthyOn = head;
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'rolled_back');
  t.match(done.reason, /canary failed on node-\d: health: health probe failing on node-\d/);
  t.match(done.reason, /node-\d rolled itself back \(health failed in the min_healthy window\)/, 'the canary gave the release up itself, and says so');
  t.notMatch(done.reason, /code hash differs/, 'its previous release\'s code hash is no mismatch');
  const canary = await a.service.deps.store.getStageResult(run.id, 'canary');
  const canaries = canary?.evidence.canaries as string[];
  t.equal(canaries.length, 1);
  const after = published.slice(-2);
  t.same(after.map((p) => [p.kind, p.targets, p.commit]), [['release', canaries, head], ['rollback', canaries, base.commit]], 'canary manifest, then a rollback to the stable commit, both to the canaries only');
  t.ok(after[1]!.seq > after[0]!.seq, 'the rollback has the higher seq');
  t.notOk(published.some((p) => p.commit === head && p.targets === 'all'), 'the release never went fleet-wide');
  const rollback = await a.service.deps.store.manifests.forRun(run.id, 'rollback');
  t.equal(verifyManifest(rollback?.envelope ?? '', a.service.deps.keyset).payload.kind, 'rollback');
});

t.test('an error-rate rise on the canaries beyond +50% of the control group is caught', async (t) => {
  const nodes = fleet(10);
  const { a } = await setup(t, nodes);
  await releaseBaseline(a);
  a.commitVersion({ version: 'v2', latencyMs: 10 });
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
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
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'rolled_back');
  t.match(done.reason, /code_hash: code hash differs from the manifest's [0-9a-f]{12} on node-\d \(ffffffffffff\)/);
});

t.test('a restarted authority continues the same soak with the same canaries', async (t) => {
  const nodes = fleet(10);
  const { a, sleeps } = await setup(t, nodes);
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  await a.service.orchestrator.drive(run.id, { until: 'stage' });
  while ((await a.service.deps.store.requireRun(run.id)).stage !== 'canary') await a.service.orchestrator.drive(run.id, { until: 'stage' });
  // start the canary stage, then stop the driver mid-soak as a crash would
  const ctl = new AbortController();
  const driving = a.service.orchestrator.drive(run.id, { signal: ctl.signal });
  while (sleeps.length < 5) await new Promise((r) => setImmediate(r));
  ctl.abort();
  await driving;
  const plan = await a.service.deps.store.plans.canaryPlan(run.id) as { canaries: string[]; confirmBy: number };
  const confirmed = await a.service.deps.store.plans.canaryConfirms(run.id);
  t.same(Object.keys(confirmed).sort(), [...plan.canaries].sort(), 'each canary confirmation is stored as it is seen');
  t.equal((await a.service.deps.store.requireRun(run.id)).stage, 'canary', 'interrupted mid-soak');
  const before = sleeps.length;
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'completed');
  const evidence = (await a.service.deps.store.getStageResult(run.id, 'canary'))?.evidence;
  t.same(evidence?.canaries, plan.canaries, 'the same canaries');
  t.equal(evidence?.confirm_deadline, new Date(plan.confirmBy).toISOString(), 'the same confirm deadline');
  const soakEnd = Math.max(...Object.values(confirmed)) + 30 * 60_000;
  t.equal(evidence?.soak_until, new Date(soakEnd).toISOString(), 'the same soak, from the stored confirmations');
  const soakSleeps = sleeps.slice(before).filter((ms) => ms <= 60_000);
  t.ok(soakSleeps.length < 30, `the resumed soak only slept out the remainder (${soakSleeps.length} checks)`);
});

t.test('a fleet that goes silent only after the fleet-wide manifest does not fail deploy: every live node confirmed before it went out', async (t) => {
  const { a, published } = await setup(t, fleet(4, () => ({ silentAfterFleetWide: true })));
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'completed', done.reason ?? '');
  const deploy = await a.service.deps.store.getStageResult(run.id, 'deploy');
  t.ok((deploy?.evidence.converged as string[]).length > 0, 'the nodes that run the track confirmed first');
  t.equal(published.at(-1)?.targets, 'all', 'then the fleet-wide manifest went out');
});

t.test('the soak of a canary starts when it confirms: a slow apply does not eat the soak', async (t) => {
  const nodes = fleet(10, () => ({ applyMs: 7 * 60_000 }));
  const { a, sleeps } = await setup(t, nodes, {
    canary: { fraction: 0.1, soak: '5m', check_every: '1m' }, deploy: { progress_deadline: '10m' },
    // 7-minute applies: each deploy wave needs a healthy_deadline above that (issue 12)
    deployments: { testnet: { healthy_deadline: '9m' } },
  });
  await releaseBaseline(a);
  a.commitVersion({ version: 'v2', latencyMs: 10 });
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  const before = sleeps.length;
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'completed', done.reason ?? '');
  const evidence = (await a.service.deps.store.getStageResult(run.id, 'canary'))?.evidence as { confirmed_at: Record<string, string>; soak_until: string };
  const [confirmedAt] = Object.values(evidence.confirmed_at);
  t.equal(Date.parse(evidence.soak_until) - Date.parse(confirmedAt ?? ''), 5 * 60_000, 'five minutes of soak after the confirm');
  const soaked = sleeps.slice(before).filter((ms) => ms <= 60_000).slice(0, 12).reduce((x, y) => x + y, 0);
  t.equal(soaked, 12 * 60_000, '7 minutes of apply, then 5 of soak, in 1-minute checks');
});

t.test('a canary that does not confirm by the confirm deadline fails for that reason', async (t) => {
  const nodes = fleet(10);
  const { a } = await setup(t, nodes, { canary: { fraction: 0.1, soak: '5m', check_every: '1m' }, deploy: { progress_deadline: '10m' } });
  await releaseBaseline(a);
  for (const n of nodes) n.applyMs = 20 * 60_000;
  a.commitVersion({ version: 'v2', latencyMs: 10 });
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'rolled_back');
  t.match(done.reason, /canary failed on node-\d: canary node-\d did not confirm the release within 600 s \(last heard: fetching #\d+\)/);
  t.notMatch(done.reason, /health probe failing/, 'not mistaken for a failing health probe');
});

t.test('an authority restarted after the soak deadline hears fresh heartbeats before it judges', async (t) => {
  const nodes = fleet(10);
  const { a, sleeps, clock, advance, freeze } = await setup(t, nodes, { canary: { fraction: 0.1, soak: '30m', check_every: '5s', heartbeat_timeout: '30s' } });
  await releaseBaseline(a);
  a.commitVersion({ version: 'v2', latencyMs: 10 });
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  await crashMidSoak(a, sleeps, run.id);
  const { canaries } = await a.service.deps.store.plans.canaryPlan(run.id) as { canaries: string[] };
  // what the store holds is how the canaries were heard before the crash, an hour ago (mid-probation, say);
  // fresh heartbeats come 20 s after the restart
  freeze(canaries, clock.now() + 60 * 60_000 + 20_000, (r) => ({ ...r, health: 'failing', tracks: { testnet: { ...r.tracks.testnet!, apply: 'probation', codeHash: 'e'.repeat(64) } } }));
  advance(60 * 60_000);
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'completed', done.reason ?? '');
  const evidence = (await a.service.deps.store.getStageResult(run.id, 'canary'))?.evidence as { criteria: Array<{ ok: boolean }> };
  t.ok(evidence.criteria.every((c) => c.ok), 'judged on the heartbeats heard after the restart');
});

t.test('a restarted authority whose canaries stay silent judges them silent after heartbeat_timeout', async (t) => {
  const nodes = fleet(10);
  const { a, sleeps, clock, advance, freeze } = await setup(t, nodes, { canary: { fraction: 0.1, soak: '30m', check_every: '5s', heartbeat_timeout: '30s' } });
  await releaseBaseline(a);
  a.commitVersion({ version: 'v2', latencyMs: 10 });
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  await crashMidSoak(a, sleeps, run.id);
  const { canaries } = await a.service.deps.store.plans.canaryPlan(run.id) as { canaries: string[] };
  freeze(canaries, clock.now() + 24 * 3_600_000);
  advance(60 * 60_000);
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'rolled_back');
  t.match(done.reason, /heartbeat: no recent heartbeat from node-\d/);
});
