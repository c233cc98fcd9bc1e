// The fleet's faults, the whole way on loopback (real daemons, real gossip over HTTP, real
// applies of the sample app): a node cut off during a release catches up, a replayed old
// manifest is refused, a daemon killed at each apply step recovers. A fleet of its own, so
// it runs beside e2e.test.ts (the pipeline's canary verdicts).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { sleep, type Daemon } from '../../../scripts/demo/fleet.js';
import { publish, signRelease } from '../../../scripts/demo/direct-release.js';
import type { SampleKnobs } from '../../../scripts/demo/sample-app.js';
import { currentIsValid } from '../../../src/node/apply/switch.js';
import { runCli } from '../../helpers/cli.js';
import { eventually, release as releaseOn, runs, trackStatus as status, type TrackStatus, releaseToAll } from '../../helpers/fleet-track.js';
import { startTestFleet } from '../../helpers/loopback-fleet.js';
import { startLiar } from '../../helpers/liar.js';
import { poll, WAIT } from '../../helpers/timeouts.js';

const { fleet, store } = await startTestFleet(t, 'upshift-e2e-faults-', {
  nodes: 3,
  waits: WAIT,
  // Idle heartbeats every 2 s: a node is silent after max(heartbeat_timeout, 3 of them) = 6 s.
  authority: {
    poll: '* * * * * *',
    heartbeat: { base: '2s' },
    canary: { fraction: 0.3, soak: '4s', check_every: '500ms', heartbeat_timeout: '6s', labels: ['region'] },
  },
});
const release = (knobs: SampleKnobs) => releaseOn(fleet, store, knobs);

let good = '';

t.test('v1 reaches every node', async (t) => {
  good = (await releaseToAll(t, fleet, store, { version: 'v1', latencyMs: 10 })).commit;
});

t.test('a node cut off during a release catches up when the cut heals', async (t) => {
  const cut = fleet.nodes[0] as Daemon;
  const settled = await eventually(fleet.nodes, runs(good));
  t.ok(settled.every(runs(good)), 'every node is settled on v1 before the cut', { settled });
  t.equal(await appVersion(cut), 'v1');
  cut.child?.kill('SIGSTOP');
  // until its last heartbeat is older than heartbeat_timeout: silent, so no canary candidate
  // and not waited for
  const silent = (r: Awaited<ReturnType<typeof runCli>>) => r.code === 1 && r.stdout.includes(cut.id) && /silent/.test(r.stdout);
  const health = await poll(() => runCli(['--config', fleet.authority.configPath, 'fleet', 'health', '--json']), silent, WAIT.gossip, 1000);
  t.equal(health.code, 1, 'fleet health exits 1 while a node is silent');
  t.match(health.json<{ problems: Array<{ node: string; problem: string }> }>().problems, [{ node: cut.id, problem: /silent/ }]);
  const v2 = await release({ version: 'v2', latencyMs: 9 });
  t.equal(v2.run.status, 'completed', v2.run.reason ?? '');
  t.match(v2.stage('deploy')?.reason, new RegExp(`silent, not waited for: ${cut.id}`));
  t.equal(await appVersion(cut), 'v1', `${cut.id} still serves v1 while cut off`);
  cut.child?.kill('SIGCONT');
  const [after] = await eventually([cut], runs(v2.commit));
  t.equal(after?.running?.version, v2.commit, `${cut.id} runs v2 after the cut heals`);
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
