// The whole way on loopback: an authority daemon and three node daemons (real processes,
// real gossip over HTTP, real applies of the sample app), versions committed to the app's
// repository and taken through the pipeline by the authority's own poll.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LoopbackFleet, sleep, type Daemon } from '../../scripts/demo/fleet.js';
import { publish, signRelease } from '../../scripts/demo/direct-release.js';
import type { SampleKnobs } from '../../scripts/demo/sample-app.js';
import { currentIsValid } from '../../src/node/apply/switch.js';
import { waitForRun } from '../../scripts/demo/watch.js';
import { openStore } from '../../src/runtime/deps.js';
import { CLI_PATH, diag, runCli } from '../helpers/cli.js';
import { startLiar } from '../helpers/liar.js';
import { poll, WAIT } from '../helpers/timeouts.js';

const dir = mkdtempSync(join(tmpdir(), 'upshift-e2e-'));
const fleet = new LoopbackFleet({
  dir,
  nodes: 3,
  cliPath: CLI_PATH,
  waits: WAIT,
  // polled every second, soaked 4 s: long enough for a canary's 5 s error-rate window to hold
  // only the release it judges (min_healthy 1 s + the soak), and for a change on disk to be attested.
  // Idle heartbeats every 2 s: a node is silent after max(heartbeat_timeout, 3 of them) = 6 s.
  authority: {
    poll: '* * * * * *',
    heartbeat: { base: '2s' },
    canary: { fraction: 0.3, soak: '4s', check_every: '500ms', heartbeat_timeout: '6s', labels: ['region'] },
  },
});
await fleet.start();
const store = openStore(fleet.authority.stateDir);
t.teardown(async () => {
  store.close();
  await fleet.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface TrackStatus {
  manifest: { seq: number; version: string } | null;
  running: { seq: number; version: string } | null;
  last_apply: { seq: number; version: string; state: string; reason: string | null } | null;
}

async function status(d: Daemon): Promise<TrackStatus> {
  const body = (await (await fetch(`${d.url}/v1/status`)).json()) as { tracks: Record<string, TrackStatus> };
  return body.tracks.testnet as TrackStatus;
}

/** Poll until every node satisfies `ok` (or WAIT.gossip passes); returns the last statuses. */
async function eventually(nodes: Daemon[], ok: (s: TrackStatus) => boolean): Promise<TrackStatus[]> {
  return poll(() => Promise.all(nodes.map(status)), (all) => all.every(ok), WAIT.gossip);
}

async function release(knobs: SampleKnobs) {
  const commit = fleet.commit(knobs);
  const run = await waitForRun(store, 'testnet', commit, { timeoutMs: WAIT.run });
  const results = await store.stageResults(run.id);
  return { commit, run, stage: (name: string) => results.find((r) => r.stage === name) };
}

async function canaries(runId: string): Promise<string[]> {
  return (await store.plans.canaryPlan(runId))?.canaries ?? [];
}

const runs = (commit: string) => (s: TrackStatus) => s.running?.version === commit && s.last_apply?.state === 'confirmed';
let good = '';

t.test('a first version reaches every node: no node is healthy yet, so canary is skipped', async (t) => {
  const v1 = await release({ version: 'v1', latencyMs: 10 });
  t.equal(v1.run.status, 'completed', v1.run.reason ?? '');
  t.equal(v1.stage('canary')?.outcome, 'skipped');
  const all = await eventually(fleet.nodes, runs(v1.commit));
  t.ok(all.every(runs(v1.commit)), 'every node runs v1', { all });
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

t.test('a node cut off during a release catches up when the cut heals', async (t) => {
  const cut = fleet.nodes[0] as Daemon;
  const settled = await eventually(fleet.nodes, runs(good));
  t.ok(settled.every(runs(good)), 'every node is settled on v2 before the cut', { settled });
  t.equal(await appVersion(cut), 'v2');
  cut.child?.kill('SIGSTOP');
  // until its last heartbeat is older than heartbeat_timeout: silent, so no canary candidate
  // and not waited for
  const silent = (r: Awaited<ReturnType<typeof runCli>>) => r.code === 1 && r.stdout.includes(cut.id) && /silent/.test(r.stdout);
  const health = await poll(() => runCli(['--config', fleet.authority.configPath, 'fleet', 'health', '--json']), silent, WAIT.gossip, 500);
  t.equal(health.code, 1, 'fleet health exits 1 while a node is silent');
  t.match(health.json<{ problems: Array<{ node: string; problem: string }> }>().problems, [{ node: cut.id, problem: /silent/ }]);
  const v6 = await release({ version: 'v6', latencyMs: 9 });
  t.equal(v6.run.status, 'completed', v6.run.reason ?? '');
  t.match(v6.stage('deploy')?.reason, new RegExp(`silent, not waited for: ${cut.id}`));
  t.equal(await appVersion(cut), 'v2', `${cut.id} still serves v2 while cut off`);
  cut.child?.kill('SIGCONT');
  const [after] = await eventually([cut], runs(v6.commit));
  t.equal(after?.running?.version, v6.commit, `${cut.id} runs v6 after the cut heals`);
});

/** A stopped daemon does not answer; its app (another process) says which version it serves. */
async function appVersion(d: Daemon): Promise<string> {
  const res = (await (await fetch(`http://127.0.0.1:${d.appPort}/healthz`)).json()) as { version: string };
  return res.version;
}

t.test('an old manifest replayed by a certified insider is refused: not applied, not forwarded', async (t) => {
  const target = fleet.nodes[1] as Daemon;
  const before = await status(target);
  const oldest = (await store.manifests.list('testnet')).find((m) => m.seq === 1);
  t.ok(oldest?.envelope, 'the v1 manifest, genuinely signed');
  const logBefore = readFileSync(target.logPath, 'utf8').length;
  const liar = await startLiar(t, { fleet: 'demo', trustKey: fleet.publicKey, releaseKeyPath: join(fleet.authority.dir, 'keys', 'release.key'), target: target.url, oldEnvelope: oldest?.envelope as string });
  // generous: under load a round of hello, push, pull and verify can take a while
  const until = Date.now() + WAIT.gossip;
  let refused = false;
  while (!refused && Date.now() < until) {
    await liar.tick();
    await sleep(300);
    refused = readFileSync(target.logPath, 'utf8').slice(logBefore).includes('"code":"E_ROLLBACK"');
  }
  const tail = readFileSync(target.logPath, 'utf8').slice(logBefore).split('\n').slice(-40).join('\n');
  t.ok(refused, `${target.id} refused the pulled manifest with E_ROLLBACK`, refused ? {} : { log: tail });
  const after = await status(target);
  t.equal(after.manifest?.seq, before.manifest?.seq, 'the held manifest is unchanged');
  t.same(after.running, before.running, 'current is unchanged');
  const authority = (await (await fetch(`${fleet.authority.url}/v1/status`)).json()) as { tracks: { testnet: TrackStatus } };
  t.not(authority.tracks.testnet.manifest?.seq, 1, 'nobody forwarded it back to the authority');
});

t.test('a node daemon killed at an apply step comes back with a valid current and finishes the apply', async (t) => {
  // releases straight to the nodes, committed on a branch the authority's pipeline does not track
  execFileSync('git', ['symbolic-ref', 'HEAD', 'refs/heads/side'], { cwd: fleet.repoDir });
  // one failpoint per node, all in one release: three kills at three steps, side by side
  const points = ['apply:fetched', 'apply:switched', 'apply:probation'];
  const nodes = fleet.nodes.slice(0, points.length);
  // each node's daemon restarted with its failpoint; `died` settles with the signal that ended it
  const armed = await Promise.all(nodes.map(async (node, i) => {
    await fleet.stopDaemon(node);
    await fleet.startDaemon(node, { UPSHIFT_FAILPOINTS: points[i] as string });
    const child = node.child as ChildProcess;
    const died = new Promise<string | null>((resolve) => {
      child.once('exit', (_code, signal) => resolve(signal));
      setTimeout(() => resolve('still running'), WAIT.run).unref();
    });
    return { died };
  }));
  // one seq line: the pipeline's manifests and the deployments' waves
  const seq = Math.max(...(await store.manifests.list('testnet')).map((m) => m.seq), (await store.deployments.maxSeq('testnet')) ?? 0);
  const commit = fleet.commit({ version: 'k1', latencyMs: 9 });
  publish(fleet.authority, await signRelease(fleet, seq + 1, commit, nodes.map((n) => n.id)));
  await Promise.all(nodes.map(async (node, i) => {
    t.equal(await armed[i]?.died, 'SIGKILL', `${node.id} died at ${points[i]}`);
    t.ok(currentIsValid(node.appDir as string), `${node.id}: current names an existing release while it is down`);
    await fleet.startDaemon(node);
    const [after] = await eventually([node], runs(commit));
    t.equal(after?.running?.version, commit, `after ${points[i]}: ${node.id} reconciled, and on the new release`);
  }));
});
