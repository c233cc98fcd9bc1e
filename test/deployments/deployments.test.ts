// Deployments through the pipeline's DEPLOY and the services, on simulated nodes and a
// virtual clock (issue 12): waves of max_parallel, auto_revert, pause across a reopened
// store, canary and promote, rollback as a new version, bad input, the audit trail.
import t from 'tap';
import { Store } from '../../src/adapters/sqlite/store.js';
import { verifyManifest } from '../../src/trust/verify-manifest.js';
import {
  deploy, deploymentStatus, failDeployment, listDeployments, pauseDeployment, promoteDeployment, resumeDeployment, rollbackDeployment,
} from '../../src/services/deployments.js';
import type { ServiceContext } from '../../src/services/context.js';
import { stepDeployment } from '../../src/stages/rollout.js';
import { testAuthority } from '../helpers/authority.js';
import { fleetDouble, virtualClock, type SimNode } from '../helpers/fleet-double.js';

const fleet = (n: number, extra: (i: number) => Partial<SimNode> = () => ({})): SimNode[] =>
  Array.from({ length: n }, (_, i) => ({ id: `node-${i + 1}`, region: ['eu', 'us'][i % 2] as string, errorRate: 0.01, ...extra(i) }));

const POLICY = { max_parallel: 2, min_healthy: '1s', healthy_deadline: '2m', progress_deadline: '5m', auto_revert: true };

async function setup(t: Tap.Test, nodes: SimNode[], deployments: Record<string, unknown> = { testnet: POLICY }) {
  const { clock, advance } = virtualClock();
  let port: ReturnType<typeof fleetDouble> | null = null;
  /** The most nodes seen mid-apply at once, sampled at every look the authority takes. */
  let maxMoving = 0;
  const a = await testAuthority(t, {
    authority: {
      canary: { fraction: 0.1, soak: '1m', check_every: '10s' }, deployments,
      // one benchmark run a release, not three: DEPLOY is under test, and each is a process
      benchmark: { suites: [{ name: 'micro', command: 'sh bench.sh', repeat: 1 }], tolerance: 0.1, timeout: '1m' },
    },
    overrides: {
      clock,
      fleet: {
        nodes: async () => {
          const all = await port!.port.nodes();
          maxMoving = Math.max(maxMoving, all.filter((r) => r.tracks.testnet?.apply === 'fetching').length);
          return all;
        },
        canaryCandidates: async () => [], // no CANARY stage: DEPLOY alone is under test
        publish: (e, tr) => port!.port.publish(e, tr),
      },
    },
  });
  port = fleetDouble(nodes, a.service.deps.keyset, clock);
  const ctx = (actor = 'cli:tester'): ServiceContext => ({ config: a.service.deps.config, store: a.service.deps.store, clock, log: a.service.deps.log, actor });
  const release = async () => {
    const { run } = await a.service.startOrFind(await a.service.resolve('main'));
    return a.service.orchestrator.drive(run.id);
  };
  return { a, port, clock, advance, ctx, release, maxMoving: () => maxMoving, resetMax: () => void (maxMoving = 0) };
}

// the four cases share nothing (each its own authority, store, repo and virtual clock): run at once
t.jobs = 4;

const versions = (nodes: SimNode[], port: ReturnType<typeof fleetDouble>) => port.port.nodes().then((rs) => Object.fromEntries(rs.map((r) => [r.node, r.tracks.testnet?.version])));

t.test('rolling, max_parallel 2 on 8 nodes: waves of 2, never more than 2 applying at once; history has both versions', { buffered: true }, async (t) => {
  const nodes = fleet(8, () => ({ applyMs: 30_000 }));
  const s = await setup(t, nodes);
  const v1 = await s.release();
  t.equal(v1.status, 'completed', v1.reason ?? '');
  s.advance(60_000); // v1's applies finish
  await s.port.port.nodes();
  const c2 = s.a.commitVersion({ version: 'v2', latencyMs: 10 });
  s.resetMax();
  const v2 = await s.release();
  t.equal(v2.status, 'completed', v2.reason ?? '');
  const result = await s.a.service.deps.store.getStageResult(v2.id, 'deploy');
  t.match(result?.reason, /confirmed by 8 node\(s\) .* in 4 wave\(s\), deployment testnet#2/);
  t.same((result?.evidence.waves as Array<{ nodes: string[] }>).map((w) => w.nodes.length), [2, 2, 2, 2]);
  t.equal(s.maxMoving(), 2, 'at most 2 nodes mid-apply at any look');
  t.ok(Object.values(await versions(nodes, s.port)).every((v) => v === c2), 'every node runs v2');
  const { deployments } = (await listDeployments(s.ctx())).evidence;
  t.same(deployments.map((d) => [d.number, d.status]), [[2, 'succeeded'], [1, 'succeeded']]);
  t.equal(deployments[0]?.source?.commit, deployments[1]?.target.commit, 'source of #2 is the target of #1');
  t.equal(deployments[0]?.rollbackTarget?.commit, deployments[1]?.target.commit, 'its rollback target too');
  // each wave's manifest is v2, targets everyone moved so far, and carries the policy nodes enforce
  const wave2 = s.port.published.find((p) => Array.isArray(p.targets) && p.targets.length === 4);
  t.ok(wave2, 'wave 2 targets 4 nodes (2 moved + 2 moving)');
  const m = (await s.a.service.deps.store.deployments.manifests(deployments[0]!.id)).find((x) => x.step === 'wave-2');
  const payload = verifyManifest(m!.envelope!, s.a.service.deps.keyset).payload;
  t.match(payload, { schema: 'upshift.manifest/v2', rollout: { key: 'testnet', number: 2, phase: 'wave', wave: 2, healthy_deadline: 120_000, min_healthy: 1000 } });
});

t.test('a node that never becomes healthy fails its wave; auto_revert brings every moved node back', { buffered: true }, async (t) => {
  const nodes = fleet(6);
  const s = await setup(t, nodes);
  await s.release();
  const c1 = (await versions(nodes, s.port))['node-1'];
  const c2 = s.a.commitVersion({ version: 'v2', latencyMs: 10 });
  (nodes[3] as SimNode).unhealthyOn = c2; // node-4, in wave 2
  const v2 = await s.release();
  t.equal(v2.status, 'rolled_back', v2.reason ?? '');
  t.match(v2.reason, /node-4 rolled back .*auto_revert: node-1, node-2, node-3, node-4 back to/);
  const after = await versions(nodes, s.port);
  t.same(after, Object.fromEntries(nodes.map((n) => [n.id, c1])), 'every node runs v1 again');
  const revert = s.port.published.at(-1);
  t.match(revert, { kind: 'rollback', targets: ['node-1', 'node-2', 'node-3', 'node-4'], commit: c1 }, 'the revert went to the moved nodes only');
  t.notOk(s.port.published.some((p) => p.commit === c2 && Array.isArray(p.targets) && p.targets.includes('node-5')), 'node-5 never saw v2');
  const d = (await listDeployments(s.ctx())).evidence.deployments[0]!;
  t.equal(d.status, 'reverted');
});

t.test('pause holds across a reopened store (an authority restart); resume finishes; bad control input is refused and audited', { buffered: true }, async (t) => {
  const nodes = fleet(6, () => ({ applyMs: 20_000 }));
  const s = await setup(t, nodes);
  await s.release(); // v1 everywhere, deployment #1
  s.a.commitVersion({ version: 'v2', latencyMs: 10 });
  // build and sign v2 without DEPLOY: an operator deploys it by hand
  const run = (await s.a.service.startOrFind(await s.a.service.resolve('main'))).run;
  while ((await s.a.service.deps.store.requireRun(run.id)).stage !== 'deploying') await s.a.service.orchestrator.drive(run.id, { until: 'stage' });
  const started = await deploy(s.ctx(), { key: 'testnet', runId: run.id, flags: { max_parallel: 1 } });
  const id = started.evidence.deployment.id;
  const deps = s.a.service.deps;
  await stepDeployment(deps, id); // wave 1: node-1
  await pauseDeployment(s.ctx('cli:alice'), id, 'checking dashboards');
  for (let i = 0; i < 10; i++) {
    s.advance(10_000);
    await stepDeployment(deps, id);
  }
  const moved = (await versions(nodes, s.port));
  t.equal(Object.values(moved).filter((v) => v === run.commit).length, 1, 'only wave 1 moved while paused');

  // "restart": a new store over the same file still says paused, and stepping does nothing
  const reopened = Store.open((deps.store as Store).db.name, () => s.clock.now());
  t.teardown(() => reopened.close());
  t.equal((await reopened.deployments.get(id))?.status, 'paused');
  const after = { ...deps, store: reopened };
  s.advance(600_000); // longer than every deadline: a paused deployment does not fail
  await stepDeployment(after, id);
  t.equal((await reopened.deployments.get(id))?.status, 'paused');

  const rctx = { ...s.ctx('cli:bob'), store: reopened };
  await t.rejects(promoteDeployment(rctx, id), { code: 'E_DEPLOY_STATE', message: /nothing is waiting for promote/ });
  await resumeDeployment(rctx, id, 'looks fine');
  await t.rejects(resumeDeployment(rctx, id), { code: 'E_DEPLOY_STATE', message: /only a paused deployment/ });
  for (let i = 0; i < 100 && (await reopened.deployments.get(id))?.status === 'running'; i++) {
    s.advance(10_000);
    await stepDeployment(after, id);
  }
  const done = await reopened.deployments.get(id);
  t.equal(done?.status, 'succeeded', done?.reason ?? '');
  t.ok(Object.values(await versions(nodes, s.port)).every((v) => v === run.commit), 'resume finished it');

  const events = (await deploymentStatus(rctx, id)).evidence.events.filter((e) => e.kind.startsWith('control.'));
  t.same(events.map((e) => [e.actor, e.kind, e.outcome]), [
    ['cli:tester', 'control.deploy', 'accepted'], ['cli:alice', 'control.pause', 'accepted'], ['cli:bob', 'control.promote', 'refused'],
    ['cli:bob', 'control.resume', 'accepted'], ['cli:bob', 'control.resume', 'refused'],
  ]);
  t.match(events[2]?.data, { code: 'E_DEPLOY_STATE' }, 'a refusal is recorded with its code');
});

t.test('canary strategy waits for promote; rollback --version N adds a version; bad input changes nothing', { buffered: true }, async (t) => {
  const nodes = fleet(5);
  const s = await setup(t, nodes, { testnet: { ...POLICY, max_parallel: '50%' }, careful: { track: 'testnet', strategy: 'canary', canary: 1, min_healthy: '1s', healthy_deadline: '2m' } });
  await s.release();
  s.a.commitVersion({ version: 'v2', latencyMs: 10 });
  const run = (await s.a.service.startOrFind(await s.a.service.resolve('main'))).run;
  while ((await s.a.service.deps.store.requireRun(run.id)).stage !== 'deploying') await s.a.service.orchestrator.drive(run.id, { until: 'stage' });
  const deps = s.a.service.deps;
  const bad: Array<[string, () => Promise<unknown>, string]> = [
    ['unknown key', () => deploy(s.ctx(), { key: 'nope', runId: run.id }), 'E_DEPLOY_NOT_FOUND'],
    ['unknown strategy', () => deploy(s.ctx(), { key: 'careful', runId: run.id, flags: { strategy: 'yolo' } }), 'E_DEPLOY_POLICY'],
    ['max_parallel 0', () => deploy(s.ctx(), { key: 'careful', runId: run.id, flags: { max_parallel: 0 } }), 'E_DEPLOY_POLICY'],
    ['both --version and --run', () => deploy(s.ctx(), { key: 'careful', runId: run.id, version: 'x' }), 'E_DEPLOY_POLICY'],
    ['a version never signed', () => deploy(s.ctx(), { key: 'careful', version: 'v9' }), 'E_DEPLOY_NOT_FOUND'],
    ['rollback to a version that does not exist', () => rollbackDeployment(s.ctx(), { key: 'testnet', number: 7, reason: 'x' }), 'E_DEPLOY_NOT_FOUND'],
    ['resume of nothing paused', () => resumeDeployment(s.ctx(), 'testnet#1'), 'E_DEPLOY_STATE'],
  ];
  for (const [what, fn, code] of bad) await t.rejects(fn(), { code }, what);
  t.equal((await listDeployments(s.ctx())).evidence.deployments.length, 1, 'nothing was created');

  const d = (await deploy(s.ctx(), { key: 'careful', runId: run.id })).evidence.deployment;
  await t.rejects(deploy(s.ctx(), { key: 'careful', runId: run.id }), { code: 'E_DEPLOY_STATE' }, 'one active deployment per key');
  let cur = (await stepDeployment(deps, d.id)).deployment;
  t.equal(cur.state.waves[0]?.kind, 'canary');
  for (let i = 0; i < 5; i++) {
    s.advance(10_000);
    cur = (await stepDeployment(deps, d.id)).deployment;
  }
  t.equal(cur.status, 'waiting_promote', 'the canary is healthy: waiting for promote, however long');
  t.equal(cur.health[cur.state.waves[0]!.nodes[0]!]?.role, 'canary', 'the canary node is marked');
  await promoteDeployment(s.ctx(), 'careful', 'canary looks good');
  for (let i = 0; i < 30 && cur.status === 'running' || i === 0; i++) {
    s.advance(10_000);
    cur = (await stepDeployment(deps, d.id)).deployment;
  }
  t.equal(cur.status, 'succeeded', cur.reason ?? '');

  // careful#1 failed nowhere: roll testnet back to #1 (v1) as a new version of testnet
  const failedOne = await deploy(s.ctx(), { key: 'testnet', runId: run.id });
  await failDeployment(s.ctx(), failedOne.evidence.deployment.id, 'changed my mind');
  await t.rejects(rollbackDeployment(s.ctx(), { key: 'testnet', number: failedOne.evidence.deployment.number, reason: 'x' }), { code: 'E_DEPLOY_UNHEALTHY' }, 'a version that never became healthy');
  const rb = (await rollbackDeployment(s.ctx(), { key: 'testnet', number: 1, reason: 'v2 is slow' })).evidence.deployment;
  t.match(rb, { key: 'testnet', number: 3, kind: 'rollback', rollbackOf: 1 });
  for (let i = 0; i < 30 && (await deps.store.deployments.get(rb.id))?.status === 'running'; i++) {
    s.advance(10_000);
    await stepDeployment(deps, rb.id);
  }
  t.equal((await deps.store.deployments.get(rb.id))?.status, 'succeeded');
  const v1 = (await deps.store.deployments.byNumber('testnet', 1))?.target.commit;
  t.ok(Object.values(await versions(nodes, s.port)).every((v) => v === v1), 'every node runs v1 again');
  t.same((await listDeployments(s.ctx(), { key: 'testnet' })).evidence.deployments.map((x) => [x.number, x.status]), [[3, 'succeeded'], [2, 'failed'], [1, 'succeeded']], 'history kept whole');
});

t.test('a step that finds nothing new writes nothing; one that sees a node move does', { buffered: true }, async (t) => {
  const nodes = fleet(3, () => ({ applyMs: 20_000 }));
  const s = await setup(t, nodes);
  await s.release();
  s.a.commitVersion({ version: 'v2', latencyMs: 10 });
  const run = (await s.a.service.startOrFind(await s.a.service.resolve('main'))).run;
  while ((await s.a.service.deps.store.requireRun(run.id)).stage !== 'deploying') await s.a.service.orchestrator.drive(run.id, { until: 'stage' });
  const id = (await deploy(s.ctx(), { key: 'testnet', runId: run.id, flags: { max_parallel: 1 } })).evidence.deployment.id;
  const deps = s.a.service.deps;
  await stepDeployment(deps, id); // wave 1
  s.advance(1_000);
  await stepDeployment(deps, id); // node-1 seen mid-apply
  const before = await deps.store.deployments.get(id);
  const { decision } = await stepDeployment(deps, id);
  t.equal(decision?.kind, 'wait');
  t.same(await deps.store.deployments.get(id), before, 'the same rev, health and time: nothing written');
  s.advance(30_000); // node-1's apply finishes
  await stepDeployment(deps, id);
  t.ok(((await deps.store.deployments.get(id))?.rev ?? 0) > (before?.rev ?? 0), 'a node that moved is written');
});

t.test('DEPLOY outlasts a driver that keeps winning the compare-and-set, and the run completes', { buffered: true }, async (t) => {
  const s = await setup(t, fleet(2));
  await s.release();
  s.a.commitVersion({ version: 'v2', latencyMs: 10 });
  // as if the daemon's driver stepped first every time: seven lost compare-and-sets, more than one step's attempts
  const table = s.a.service.deps.store.deployments;
  const advance = table.advance.bind(table);
  let lost = 0;
  table.advance = (...args) => (lost < 7 ? (lost++, Promise.resolve(false)) : advance(...args));
  const v2 = await s.release();
  t.equal(lost, 7, 'every lost compare-and-set was met');
  t.equal(v2.status, 'completed', v2.reason ?? '');
});
