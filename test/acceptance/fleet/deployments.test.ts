// Deployments on a real loopback fleet (issue 12): an authority daemon and five node daemons
// with the sample app, max_parallel 2. Checked from the nodes' own apply journals (every
// switch-to-outcome interval, exact) and from their status sampled throughout: never more
// than 2 switching or in probation at once. Then a node that never becomes healthy fails its
// wave and auto_revert brings every moved node back; then a pause holds across an authority
// restart and resume finishes the deployment.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { sleep, type Daemon } from '../../../scripts/demo/fleet.js';
import type { SampleKnobs } from '../../../scripts/demo/sample-app.js';
import { waitForRun } from '../../../scripts/demo/watch.js';
import { systemClock } from '../../../src/adapters/clock.js';
import { createLogger } from '../../../src/adapters/logger.js';
import { openStore } from '../../../src/runtime/deps.js';
import { loadConfig } from '../../../src/runtime/config-load.js';
import type { ServiceContext } from '../../../src/services/context.js';
import { pauseDeployment } from '../../../src/services/deployments.js';
import { startTestFleet } from '../../helpers/loopback-fleet.js';

// testnet's healthy_deadline is what the sick node of v3 waits out before it rolls back:
// 12 s leaves a healthy node, busy machine and all, ample time to pass its probation
const { fleet, dir, store } = await startTestFleet(t, 'upshift-deploy-', {
  nodes: 5,
  authority: {
    poll: '* * * * * *',
    canary: { fraction: 0.2, soak: '4s', check_every: '500ms', heartbeat_timeout: '6s', labels: ['region'] },
    deployments: {
      testnet: { max_parallel: 2, min_healthy: '1s', healthy_deadline: '12s', progress_deadline: '150s', auto_revert: true },
      // after promote careful moves the rest at once: what is proven of it is the canary's wait
      careful: { track: 'testnet', strategy: 'canary', canary: 1, max_parallel: '100%', min_healthy: '1s', healthy_deadline: '30s', progress_deadline: '150s' },
    },
  },
});

interface TrackStatus { running: { seq: number; version: string } | null; last_apply: { seq: number; version: string; state: string } | null }

async function status(d: Daemon): Promise<TrackStatus | null> {
  try {
    const body = (await (await fetch(`${d.url}/v1/status`, { signal: AbortSignal.timeout(3000) })).json()) as { tracks: Record<string, TrackStatus> };
    return body.tracks.testnet ?? null;
  } catch {
    return null;
  }
}

async function eventually(ok: (s: TrackStatus | null) => boolean, ms = 60_000): Promise<Array<TrackStatus | null>> {
  const until = Date.now() + ms;
  for (;;) {
    const all = await Promise.all(fleet.nodes.map(status));
    if (all.every(ok) || Date.now() > until) return all;
    await sleep(300);
  }
}
const runs = (commit: string) => (s: TrackStatus | null) => s?.running?.version === commit && s.last_apply?.state === 'confirmed';

/** Sample every node's status until stopped: the most seen switching or in probation on `commit` at once. */
function sampler(commit: string) {
  let max = 0;
  let samples = 0;
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const all = await Promise.all(fleet.nodes.map(status));
      samples++;
      max = Math.max(max, all.filter((s) => s?.last_apply?.version === commit && ['switching', 'probation'].includes(s.last_apply.state)).length);
      await sleep(150);
    }
  })();
  return { stop: async () => { stop = true; await done; return { max, samples }; } };
}

/** From every node's apply journal: intervals from `switching` to the apply's outcome, and the most that overlap. */
function journalOverlap(commit: string): { max: number; intervals: number } {
  const spans: Array<[number, number]> = [];
  for (const n of fleet.nodes) {
    const s = openStore(n.stateDir);
    try {
      const rows = s.db.prepare(`SELECT a.id AS id, st.at AS at, st.state AS state FROM applies a JOIN apply_steps st ON st.apply_id = a.id
        WHERE a.commit_sha = ? ORDER BY st.seq`).all(commit) as Array<{ id: number; at: number; state: string }>;
      const start = new Map<number, number>();
      for (const r of rows) {
        if (r.state === 'switching') start.set(r.id, r.at);
        else if (['confirmed', 'rolled_back', 'failed', 'abandoned'].includes(r.state) && start.has(r.id)) {
          spans.push([start.get(r.id) as number, r.at]);
          start.delete(r.id);
        }
      }
      for (const at of start.values()) spans.push([at, Number.MAX_SAFE_INTEGER]);
    } finally {
      s.close();
    }
  }
  const edges = spans.flatMap(([a, b]) => [[a, 1], [b, -1]] as Array<[number, number]>).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of edges) max = Math.max(max, (cur += d));
  return { max, intervals: spans.length };
}

async function release(knobs: SampleKnobs, onRun?: (runId: string) => Promise<void>) {
  const commit = fleet.commit(knobs);
  const started = Date.now();
  if (onRun) {
    let run = await store.findRun('testnet', commit);
    while (!run) {
      await sleep(100);
      run = await store.findRun('testnet', commit);
    }
    await onRun(run.id);
  }
  const run = await waitForRun(store, 'testnet', commit, { timeoutMs: 240_000 });
  const deploy = (await store.stageResults(run.id)).find((r) => r.stage === 'deploy');
  return { commit, run, deploy, ms: Date.now() - started };
}

/** What `upshift deployment …` on the authority gives the services, built in this process. */
const operator: ServiceContext = {
  config: loadConfig(fleet.authority.configPath).config, store, clock: systemClock, log: createLogger({ level: 'silent' }), actor: 'cli:operator',
};
const cli = async (args: string[]) => JSON.parse(await fleet.run(fleet.authority, [...args, '--json'])) as Record<string, any>;
let v2 = '';

t.test('v1, then v2 in waves of at most 2: never more than 2 nodes switching or in probation', async (t) => {
  const v1 = await release({ version: 'v1', latencyMs: 10 });
  t.equal(v1.run.status, 'completed', v1.run.reason ?? '');
  t.ok((await eventually(runs(v1.commit))).every(runs(v1.commit)), 'every node runs v1');
  t.equal(journalOverlap(v1.commit).max <= 2, true, 'v1 too went 2 at a time');

  const commit = fleet.commit({ version: 'v2', latencyMs: 10 });
  const watch = sampler(commit);
  const run = await waitForRun(store, 'testnet', commit, { timeoutMs: 240_000 });
  const sampled = await watch.stop();
  t.equal(run.status, 'completed', run.reason ?? '');
  const all = await eventually(runs(commit));
  t.ok(all.every(runs(commit)), 'every node runs v2', { all });
  const journal = journalOverlap(commit);
  t.equal(journal.intervals, 5, 'five switches of v2 in the journals');
  t.ok(journal.max <= 2, `at most 2 nodes between switch and outcome at once (journals: ${journal.max})`);
  t.ok(sampled.max <= 2, `at most 2 seen switching or in probation (${sampled.samples} samples, max ${sampled.max})`);
  const deploy = (await store.stageResults(run.id)).find((r) => r.stage === 'deploy');
  t.ok((deploy?.evidence.waves as Array<{ nodes: string[] }>).every((w) => w.nodes.length <= 2), 'each wave at most 2 nodes');
  t.comment(`v2 rollout: journal max overlap ${journal.max}, sampled max ${sampled.max} over ${sampled.samples} samples; deploy ${deploy?.reason}`);
  v2 = commit;
});

t.test('a node that never becomes healthy fails its wave; auto_revert brings every moved node back to v2', async (t) => {
  let sick = '';
  const v3 = await release({ version: 'v3', latencyMs: 10, unhealthyIf: 'sick-v3' }, async (runId) => {
    // once the canaries are chosen, make the first other node sick under v3: it is in wave 1
    let plan = await store.plans.canaryPlan(runId);
    while (plan === undefined) {
      await sleep(100);
      plan = await store.plans.canaryPlan(runId);
    }
    const node = fleet.nodes.map((n) => n.id).sort().find((id) => !(plan?.canaries ?? []).includes(id)) as string;
    sick = node;
    writeFileSync(join(dir, node, 'sick-v3'), 'yes\n');
  });
  t.equal(v3.run.status, 'rolled_back', v3.run.reason ?? '');
  t.match(v3.deploy?.reason, new RegExp(`${sick} (rolled back|not healthy).*auto_revert: .*${sick}.* back to`));
  const all = await eventually(runs(v2));
  t.ok(all.every((s) => s?.running?.version === v2), 'every node runs v2 again', { all });
  const moved = (v3.deploy?.evidence.waves as Array<{ nodes: string[] }>).flatMap((w) => w.nodes);
  t.ok(moved.length >= 1 && moved.length <= 2, `one wave of at most 2 moved (${moved.join(', ')})`);
  t.comment(`v3: ${v3.deploy?.reason} (${v3.ms} ms)`);
});

t.test('pause holds the fleet still across an authority restart; resume finishes the deployment', async (t) => {
  let paused: Record<string, any> = {};
  const v4 = await release({ version: 'v4', latencyMs: 10 }, async (runId) => {
    let d = await store.deployments.forRun(runId);
    while (!d || d.state.waves.length === 0) {
      await sleep(100);
      d = await store.deployments.forRun(runId);
    }
    // the service the CLI calls, in this process: a CLI run took seconds on a loaded CI machine,
    // and wave 2 had started (nothing left unmoved to prove) before its pause landed
    paused = (await pauseDeployment(operator, d.id, 'checking dashboards')).evidence.deployment as Record<string, any>;
    t.equal(paused.status, 'paused');
    await fleet.stopDaemon(fleet.authority);
    await fleet.startDaemon(fleet.authority);
    // wave 1 confirmed and past min_healthy (1 s): from here an unpaused deployment starts
    // wave 2 at the driver's next pass (every 500 ms); 3 s is six passes in which nothing may move
    const wave1 = fleet.nodes.filter((n) => d!.state.waves.some((w) => w.nodes.includes(n.id)));
    const confirmed = runs(d.target.commit);
    for (const end = Date.now() + 120_000; Date.now() < end && !(await Promise.all(wave1.map(status))).every(confirmed);) await sleep(300);
    await sleep(3000);
    const still = await store.deployments.get(d.id);
    t.equal(still?.status, 'paused', 'still paused after the restart');
    t.equal(still?.state.waves.length, paused.state.waves.length, 'no wave started while paused');
    const moved = new Set([...still!.state.preMoved, ...still!.state.waves.flatMap((w) => w.nodes)]);
    const others = await Promise.all(fleet.nodes.filter((n) => !moved.has(n.id)).map(status));
    t.ok(others.length > 0 && others.every((s) => s?.running?.version === v2), `the ${others.length} unmoved node(s) still run v2`);
    const refused = await fleet.run(fleet.authority, ['deployment', 'promote', d.id, '--json']).catch((err: { stdout?: string }) => err.stdout ?? '');
    t.match(JSON.parse(refused), { ok: false, error: { code: 'E_DEPLOY_STATE' } }, 'promote with nothing waiting is refused');
    const resumed = (await cli(['deployment', 'resume', d.id])).deployment;
    t.equal(resumed.status, 'running');
  });
  t.equal(v4.run.status, 'completed', v4.run.reason ?? '');
  t.ok((await eventually(runs(v4.commit))).every(runs(v4.commit)), 'every node runs v4');
  const [list, st] = await Promise.all([cli(['deployment', 'list', '--key', 'testnet']), cli(['deployment', 'status', 'testnet#4'])]);
  const history = list.deployments as Array<{ number: number; status: string }>;
  t.same(history.map((d) => [d.number, d.status]), [[4, 'succeeded'], [3, 'reverted'], [2, 'succeeded'], [1, 'succeeded']]);
  t.same(st.events.filter((e: { kind: string }) => e.kind.startsWith('control.')).map((e: { kind: string; outcome: string }) => [e.kind, e.outcome]),
    [['control.pause', 'accepted'], ['control.promote', 'refused'], ['control.resume', 'accepted']], 'every control action audited');
  t.ok(journalOverlap(v4.commit).max <= 2, 'v4 too: at most 2 at once');
  t.comment(`v4 with pause and restart: ${v4.ms} ms`);
  v4commit = v4.commit;
});

let v4commit = '';

/** Poll the authority's store until `ok` holds for the deployment (or `ms` pass). */
async function until(id: string, ok: (d: Awaited<ReturnType<typeof store.deployments.get>>) => boolean, ms = 180_000) {
  const end = Date.now() + ms;
  let d = await store.deployments.get(id);
  while (!ok(d) && Date.now() < end) {
    await sleep(300);
    d = await store.deployments.get(id);
  }
  return d;
}

t.test('an operator\'s canary deployment (driven by the daemon) waits for promote; rollback --version adds a version', async (t) => {
  const v2run = await store.findRun('testnet', v2);
  const started = (await cli(['deployment', 'deploy', 'careful', '--run', v2run!.id])).deployment;
  t.match(started, { key: 'careful', number: 1, strategy: 'canary', status: 'running' });
  const waiting = await until(started.id, (d) => d?.status === 'waiting_promote');
  t.equal(waiting?.status, 'waiting_promote', waiting?.reason ?? '');
  const canary = waiting!.state.waves[0]!.nodes;
  t.equal(canary.length, 1, 'one canary');
  // the canary is past min_healthy: a deployment that did not wait would start its next wave
  // at the driver's next pass (every 500 ms); at least 2.5 s (five passes, and the two CLI
  // reads, which do not change it) in which nothing else may move
  const [ls, status4] = await Promise.all([cli(['fleet', 'ls']), cli(['deployment', 'status', started.id]), sleep(2500)]);
  const rest = await Promise.all(fleet.nodes.filter((n) => !canary.includes(n.id)).map(status));
  t.ok(rest.every((x) => x?.running?.version === v4commit), 'the other nodes still run v4');
  t.equal((await store.deployments.get(started.id))?.status, 'waiting_promote');
  const heard = await store.fleet.node(canary[0] as string);
  t.equal(heard?.tracks.testnet?.role, 'canary', 'the canary says so in its heartbeat');
  t.equal(ls.nodes.find((n: { node: string }) => n.node === canary[0]).tracks.testnet.role, 'canary', 'and fleet ls marks it');
  t.equal(status4.deployment.health[canary[0] as string].role, 'canary', 'and deployment status marks it');
  await cli(['deployment', 'promote', started.id, '--reason', 'canary looks fine']);
  const done = await until(started.id, (d) => d?.status === 'succeeded' || d?.status === 'failed');
  t.equal(done?.status, 'succeeded', done?.reason ?? '');
  t.ok((await eventually(runs(v2))).every(runs(v2)), 'every node runs v2');

  const rb = (await cli(['deployment', 'rollback', 'testnet', '--version', '4', '--reason', 'back to v4'])).deployment;
  t.match(rb, { key: 'testnet', number: 5, kind: 'rollback', rollbackOf: 4 });
  const back = await until(rb.id, (d) => d?.status === 'succeeded' || d?.status === 'failed');
  t.equal(back?.status, 'succeeded', back?.reason ?? '');
  t.ok((await eventually(runs(v4commit))).every(runs(v4commit)), 'every node runs v4 again');
  const history = (await cli(['deployment', 'list', '--key', 'testnet'])).deployments as Array<{ number: number; kind: string }>;
  t.same(history.map((d) => [d.number, d.kind]), [[5, 'rollback'], [4, 'release'], [3, 'release'], [2, 'release'], [1, 'release']], 'history kept whole, the rollback on top');
  // v4's switches (its rollout and the rollback to it) went in waves; a revert (v2, above) moves its nodes at once
  t.ok(journalOverlap(v4commit).max <= 2, 'at most 2 at once');
});
