// Fleet correctness on loopback (issue 8), an authority restarted mid-soak: an authority
// daemon and two node daemons (real processes, real gossip, real applies of the sample app),
// a fleet of its own so it runs beside correctness.test.ts.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { sleep, type Daemon } from '../../../scripts/demo/fleet.js';
import { waitForRun } from '../../../scripts/demo/watch.js';
import { runs, trackStatus as status, releaseToAll } from '../../helpers/fleet-track.js';
import { startTestFleet } from '../../helpers/loopback-fleet.js';
import { WAIT } from '../../helpers/timeouts.js';

// the canary's soak and heartbeat timeout (s)
const SOAK_S = 3;
const HEARTBEAT_TIMEOUT_S = 6;

const { fleet, store } = await startTestFleet(t, 'upshift-fleetfix-restart-', {
  nodes: 2,
  waits: WAIT,
  // ceil(0.3 × 2) = 1 canary
  authority: {
    poll: '* * * * * *',
    canary: { fraction: 0.3, soak: `${SOAK_S}s`, check_every: '500ms', heartbeat_timeout: `${HEARTBEAT_TIMEOUT_S}s`, labels: ['region'] },
  },
});


t.test('v1 reaches both nodes (no healthy node yet, so no canary)', async (t) => {
  await releaseToAll(t, fleet, store, { version: 'v1', latencyMs: 10 });
});

t.test('an authority killed mid-soak and restarted after the deadline judges on fresh heartbeats', async (t) => {
  const commit = fleet.commit({ version: 'v2', latencyMs: 9 });
  // wait until the canary runs v2, confirmed, and its soak runs
  const until = Date.now() + WAIT.run;
  let runId = '';
  let canary: Daemon | undefined;
  while (!runId && Date.now() < until) {
    const run = await store.findRun('testnet', commit);
    const plan = run ? await store.plans.canaryPlan(run.id) ?? null : null;
    canary = fleet.nodes.find((n) => n.id === plan?.canaries[0]);
    if (run && canary && runs(commit)(await status(canary))) runId = run.id;
    else await sleep(100);
  }
  t.ok(runId && canary, 'the canary confirmed v2; soaking');
  // The canary's daemon is paused through the restart, so the store holds only stale heartbeats of it
  // when the resumed stage looks; it answers again once that stage is watching.
  canary?.child?.kill('SIGSTOP');
  try {
    await fleet.stopDaemon(fleet.authority, 'SIGKILL');
    t.equal((await store.requireRun(runId)).status, 'running', 'the run is left mid-canary');
    // Every stored heartbeat came before the kill, and the canary's confirm (the soak's
    // start) before the pause: past heartbeat_timeout and the soak after the kill, with 2 s
    // to spare, every stored heartbeat is stale and the soak's deadline passed.
    await sleep((Math.max(HEARTBEAT_TIMEOUT_S, SOAK_S) + 2) * 1000);
    const logFrom = readFileSync(fleet.authority.logPath, 'utf8').length;
    await fleet.startDaemon(fleet.authority);
    const resumed = (line: string) => line.includes('"stage":"canary"') && line.includes('stage started');
    while (!readFileSync(fleet.authority.logPath, 'utf8').slice(logFrom).split('\n').some(resumed)) await sleep(50);
  } finally {
    canary?.child?.kill('SIGCONT');
  }
  const run = await waitForRun(store, 'testnet', commit, { timeoutMs: WAIT.run });
  const stage = (await store.stageResults(run.id)).find((r) => r.stage === 'canary');
  t.equal(stage?.outcome, 'passed', stage?.reason ?? '');
  t.equal(run.status, 'completed', run.reason ?? '');
});
