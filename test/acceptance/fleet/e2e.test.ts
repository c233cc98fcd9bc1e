// The whole way on loopback: an authority daemon and three node daemons (real processes,
// real gossip over HTTP, real applies of the sample app), versions committed to the app's
// repository and taken through the pipeline by the authority's own poll. The fleet's faults
// (a node cut off, a replayed manifest, a daemon killed mid-apply) are e2e-faults.test.ts,
// on a fleet of their own, so the two run side by side.
import { appendFileSync } from 'node:fs';
import t from 'tap';
import { join } from 'node:path';
import { sleep } from '../../../scripts/demo/fleet.js';
import type { SampleKnobs } from '../../../scripts/demo/sample-app.js';
import { waitForRun } from '../../../scripts/demo/watch.js';
import { diag, runCli } from '../../helpers/cli.js';
import { eventually, release as releaseOn, runs, trackStatus as status, releaseToAll } from '../../helpers/fleet-track.js';
import { startTestFleet } from '../../helpers/loopback-fleet.js';
import { poll, WAIT } from '../../helpers/timeouts.js';

const { fleet, store } = await startTestFleet(t, 'upshift-e2e-', {
  nodes: 3,
  waits: WAIT,
  // polled every second, soaked 4 s: long enough for a canary's 5 s error-rate window to hold
  // only the release it judges (min_healthy 1 s + the soak), and for a change on disk to be attested
  authority: {
    poll: '* * * * * *',
    canary: { fraction: 0.3, soak: '4s', check_every: '500ms', heartbeat_timeout: '6s', labels: ['region'] },
  },
});
const release = (knobs: SampleKnobs) => releaseOn(fleet, store, knobs);

async function canaries(runId: string): Promise<string[]> {
  return (await store.plans.canaryPlan(runId))?.canaries ?? [];
}

let good = '';

t.test('a first version reaches every node: no node is healthy yet, so canary is skipped', async (t) => {
  const v1 = await releaseToAll(t, fleet, store, { version: 'v1', latencyMs: 10 });
  t.equal(v1.stage('canary')?.outcome, 'skipped');
});

t.test('v2 goes through a canary and reaches every node', async (t) => {
  const v2 = await release({ version: 'v2', latencyMs: 9 });
  t.equal(v2.run.status, 'completed', v2.run.reason ?? '');
  t.equal(v2.stage('canary')?.outcome, 'passed', v2.stage('canary')?.reason ?? '');
  t.equal((await canaries(v2.run.id)).length, 1, 'ceil(0.3 × 3) = 1 canary');
  t.match(v2.stage('deploy')?.reason, /confirmed by 3 node\(s\)/);
  const all = await eventually(fleet.nodes, runs(v2.commit));
  t.ok(all.every(runs(v2.commit)), 'every node runs v2', { all });
  good = v2.commit;

  // the authority's view: every node, its version, health and apply state (once each
  // node's heartbeat after its confirm has arrived)
  type Ls = { nodes: Array<{ node: string; health: string; tracks: Record<string, { version: string; state: string }> }> };
  const onV2 = (n: Ls['nodes'][number]) => n.health === 'ok' && n.tracks.testnet?.version === v2.commit && n.tracks.testnet.state === 'confirmed';
  const appsOf = (ls: Ls) => ls.nodes.filter((n) => n.node !== 'authority');
  const ls = await poll(
    async () => (await runCli(['--config', fleet.authority.configPath, 'fleet', 'ls', '--json'])).json<Ls>(),
    (l) => appsOf(l).length === fleet.nodes.length && appsOf(l).every(onV2),
    WAIT.gossip,
    1000,
  );
  const apps = appsOf(ls);
  t.same(apps.map((n) => n.node).sort(), fleet.nodes.map((n) => n.id), 'fleet ls lists every node');
  t.ok(apps.every(onV2), 'all healthy on v2', { apps });
  const health = await runCli(['--config', fleet.authority.configPath, 'fleet', 'health']);
  t.equal(health.code, 0, 'fleet health exits 0', diag(health));
});

t.test('a v3 whose health fails is rolled back on the canary; the others never apply it', async (t) => {
  const v3 = await release({ version: 'v3', latencyMs: 9, healthy: false });
  t.equal(v3.run.status, 'rolled_back');
  t.equal(v3.stage('canary')?.outcome, 'rolled_back');
  t.match(v3.stage('canary')?.reason, /health/);
  t.notOk(v3.stage('deploy'), 'deploy never ran');
  const [canary] = await canaries(v3.run.id);
  t.match(v3.stage('canary')?.reason, `canary failed on ${canary}`, 'the canary tried v3');
  const all = await eventually(fleet.nodes, (s) => s.running?.version === good);
  for (const [i, node] of fleet.nodes.entries()) {
    t.equal(all[i]?.running?.version, good, `${node.id} runs v2`);
    if (node.id !== canary) t.equal(all[i]?.last_apply?.version, good, `${node.id} never applied v3`);
  }
});

t.test('an error-rate rise on the canary against the control group fails the canary', async (t) => {
  const v4 = await release({ version: 'v4', latencyMs: 9, errorRate: 0.3 });
  t.equal(v4.run.status, 'rolled_back');
  const criteria = (v4.stage('canary')?.evidence as { criteria: Array<{ name: string; ok: boolean; detail: string }> }).criteria;
  t.match(criteria.find((c) => c.name === 'error_rate'), { ok: false }, 'error_rate failed');
  t.match(criteria.find((c) => c.name === 'health'), { ok: true }, 'health itself was fine');
  const all = await eventually(fleet.nodes, (s) => s.running?.version === good);
  t.ok(all.every((s) => s.running?.version === good), 'every node is back on v2', { all });
});

t.test('a canary whose checkout is changed on disk fails the code-hash criterion', async (t) => {
  const commit = fleet.commit({ version: 'v5', latencyMs: 9 });
  // wait for the canary to run v5, then change a tracked file in its release
  let tampered = '';
  const until = Date.now() + WAIT.run;
  while (!tampered && Date.now() < until) {
    const run = await store.findRun('testnet', commit);
    const [canary] = run ? await canaries(run.id) : [];
    const node = fleet.nodes.find((n) => n.id === canary);
    if (node && runs(commit)(await status(node))) {
      appendFileSync(join(node.appDir as string, 'current', 'README.md'), 'changed after install\n');
      tampered = node.id;
    }
    await sleep(100);
  }
  t.ok(tampered, 'the canary ran v5 and was changed');
  const run = await waitForRun(store, 'testnet', commit, { timeoutMs: WAIT.run });
  const canaryStage = (await store.stageResults(run.id)).find((r) => r.stage === 'canary');
  t.equal(run.status, 'rolled_back');
  const criteria = (canaryStage?.evidence as { criteria: Array<{ name: string; ok: boolean; detail: string }> }).criteria;
  t.match(criteria.find((c) => c.name === 'code_hash'), { ok: false, detail: new RegExp(tampered) });
});
