// Issue 13, "Mutating commands are queued in the store and run by the leader, whichever
// replica or CLI accepted them": real `upshift daemon` replicas on one real PostgreSQL
// database (test/helpers/replica-bed.ts). A `pipeline run` and a `deployment
// pause` given through a follower's config are carried out once by the leader; with no
// leader the CLI withdraws what it queued, answers E_LEADER_TIMEOUT, and nothing changes;
// what only a driver does (advance) is refused.
import t from 'tap';
import type { Daemon } from '../../../scripts/demo/fleet.js';
import { diag, runCli } from '../../helpers/cli.js';
import { postgresAvailable } from '../../helpers/postgres.js';
import { replicaBed } from '../../helpers/replica-bed.js';
import { poll, WAIT } from '../../helpers/timeouts.js';

if (!postgresAvailable()) t.plan(0, 'PostgreSQL is not installed (.ci/run installs it)');

// a poll that never fires: a run exists only if a command started it
const bed = await replicaBed(t, { authority: { poll: '0 0 1 1 *' } });
const { admin, repo } = bed;
// versions go on a branch the tracks do not follow
repo.git('checkout', '-q', '-b', 'feature');

const runs = bed.runs;
const commands = async () => (await admin.query(
  'SELECT id, kind, target, outcome, done_by, done_epoch, claimed_epoch, accepted_by, result FROM upshift_commands ORDER BY id')).rows;
const executed = async (id: number) => (await admin.query(
  "SELECT actor, data FROM events WHERE kind = 'command.executed' AND (data::jsonb ->> 'command')::bigint = $1", [id])).rows;

const all = [await bed.start(1), ...await bed.startAll([2])];
const elected = await poll(bed.status, (i) => i.leader !== null && i.replicas.length === 2, WAIT.daemonStart);
const leader = elected.leader as { replica: string; epoch: number };
const follower = all.find((d) => d.id !== leader.replica) as Daemon;
let runId = '';

t.test('`pipeline run` on a follower\'s config: the leader starts and drives the run, once', async (t) => {
  const commit = bed.commit('v1');
  const r = await runCli(['-c', follower.configPath, 'pipeline', 'run', '--ref', 'feature', '--track', 'testnet', '--json'],
    { timeoutMs: WAIT.run });
  t.equal(r.code, 0, 'the run completed', { ...diag(r), log: bed.tail(all.find((d) => d.id === leader.replica)) });
  const body = r.json<{ ok: boolean; run: { id: string; status: string; version: string }; command: number; done_by: string }>();
  t.equal(body.run.status, 'completed');
  t.equal(body.run.version, commit);
  t.equal(body.done_by, leader.replica, 'the leader carried the start out');
  runId = body.run.id;
  t.same((await runs()).map((x) => x.id), [runId], 'one run, the one the command started');
  const [cmd] = (await commands()).filter((c) => c.id === String(body.command));
  t.equal(cmd?.kind, 'start');
  t.equal(cmd?.outcome, 'ok');
  t.equal(cmd?.done_by, leader.replica);
  t.equal(Number(cmd?.done_epoch), leader.epoch, 'audited with the epoch it ran under');
  t.match(cmd?.accepted_by, /^cli:/);
  t.equal((await executed(body.command)).length, 1, 'audited once');
});

t.test('`deployment pause` on a follower\'s config is carried out once by the leader', async (t) => {
  // The deployment must still be running when the pause arrives. The replicas carry no app
  // and report no track, and with no live node on the track a deployment completes at its
  // first step; so the fleet read model gets one node on the track, heard every second, that
  // never moves: the canary wave waits on it (this test is about the queue, not the rollout).
  const hear = () => admin.query(`INSERT INTO fleet_nodes (node, heard_at, labels, health) VALUES ('web-1', $1, '{}', 'ok')
    ON CONFLICT (node) DO UPDATE SET heard_at = excluded.heard_at`, [Date.now()]);
  await hear();
  await admin.query(`INSERT INTO fleet_tracks (node, track, apply) VALUES ('web-1', 'testnet', 'idle') ON CONFLICT DO NOTHING`);
  const heartbeat = setInterval(() => void hear().catch(() => undefined), 1000);
  t.teardown(() => clearInterval(heartbeat));
  const dep = await runCli(['-c', follower.configPath, 'deployment', 'deploy', 'testnet', '--run', runId,
    '--strategy', 'canary', '--canary', '1', '--no-auto-promote', '--json']);
  t.equal(dep.code, 0, diag(dep));
  t.equal(dep.json<{ outcome: string }>().outcome, 'ok', 'the deploy was carried out by the leader', diag(dep));
  const status = async () => (await runCli(['-c', follower.configPath, 'deployment', 'status', 'testnet', '--json']))
    .json<{ deployment: { status: string } }>().deployment.status;
  t.match(await status(), /^(running|waiting_promote)$/);
  const pause = await runCli(['-c', follower.configPath, 'deployment', 'pause', 'testnet', '--reason', 'hold on', '--json']);
  t.equal(pause.code, 0, diag(pause));
  const answer = pause.json<{ command: number; outcome: string; done_by: string; done_epoch: number }>();
  t.equal(answer.outcome, 'ok', 'paused', diag(pause));
  t.equal(answer.done_by, leader.replica, 'by the leader, not by the CLI');
  t.equal(answer.done_epoch, leader.epoch);
  t.equal(await status(), 'paused');
  const audited = await executed(answer.command);
  t.equal(audited.length, 1, 'audited once', { audited });
  t.match(audited[0]?.actor, /^cli:/, 'as the operator who asked');
  const paused = (await admin.query("SELECT actor FROM deployment_events WHERE kind = 'control.pause'")).rows;
  t.equal(paused.length, 1, 'one pause in the deployment\'s own trail', { paused });
  t.match(paused[0]?.actor, /^cli:/);
});

t.test('what only a driver does is refused on replicas, naming `authority status`', async (t) => {
  const adv = await runCli(['-c', follower.configPath, 'pipeline', 'advance', '--json']);
  t.equal(adv.code, 1, diag(adv));
  t.equal(adv.json<{ error: { code: string } }>().error.code, 'E_NOT_LEADER');
  t.match(adv.json<{ error: { message: string } }>().error.message, /authority status/);
  const tool = await runCli(['-c', follower.configPath, 'tool', 'advance_upgrade_pipeline', '--args', '{}']);
  t.equal(tool.json<{ error: { code: string } }>().error.code, 'E_NOT_LEADER', diag(tool));
});

t.test('`upshift tool` on replicas: start_upgrade and rollback_upgrade are answered by the leader', async (t) => {
  const before = (await commands()).length;
  // v1 ran already (a version runs once) and its run ended: the leader says so for both
  const start = await runCli(['-c', follower.configPath, 'tool', 'start_upgrade', '--args', '{"ref":"feature"}']);
  t.equal(start.json<{ error: { code: string } }>().error.code, 'E_RUN_TERMINAL', diag(start));
  t.match(start.json<{ reason: string }>().reason, new RegExp(`refused by the leader ${leader.replica}`));
  const rb = await runCli(['-c', follower.configPath, 'tool', 'rollback_upgrade', '--args', JSON.stringify({ run: runId, reason: 'x' })]);
  t.equal(rb.json<{ error: { code: string } }>().error.code, 'E_RUN_TERMINAL', diag(rb));
  const added = (await commands()).slice(before);
  t.same(added.map((c) => [c.kind, c.outcome, c.done_by]), [['start', 'failed', leader.replica], ['rollback', 'failed', leader.replica]]);
  t.same((await runs()).map((x) => x.id), [runId], 'no second run');
});

t.test('with no leader the CLI times out with E_LEADER_TIMEOUT and nothing changes', async (t) => {
  await bed.stopAll();
  const before = await commands();
  bed.commit('v2');
  // three CLIs at once: each waits out the same leaderless wait for its own command
  const [resume, run, start] = await Promise.all([
    runCli(['-c', follower.configPath, 'deployment', 'resume', 'testnet', '--reason', 'go on']),
    runCli(['-c', follower.configPath, 'pipeline', 'run', '--ref', 'feature', '--track', 'testnet', '--json']),
    runCli(['-c', follower.configPath, 'tool', 'start_upgrade', '--args', '{"ref":"feature"}']),
  ]);
  t.equal(resume.code, 1, diag(resume));
  t.match(resume.stderr, /E_LEADER_TIMEOUT: no leader took command #\d+ .* withdrawn and nothing changed; `upshift authority status`/);
  t.equal(run.code, 1, diag(run));
  t.equal(run.json<{ error: { code: string } }>().error.code, 'E_LEADER_TIMEOUT');
  t.equal(start.json<{ error: { code: string } }>().error.code, 'E_LEADER_TIMEOUT', diag(start));
  const added = (await commands()).slice(before.length);
  t.same(added.map((c) => [c.kind, c.outcome, c.done_epoch, c.claimed_epoch]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    [['resume', 'failed', null, null], ['start', 'failed', null, null], ['start', 'failed', null, null]], 'each withdrawn, none claimed');
  t.same((await runs()).map((x) => x.id), [runId], 'no run was started');
  const dep = await runCli(['-c', follower.configPath, 'deployment', 'status', 'testnet', '--json']);
  t.equal(dep.json<{ deployment: { status: string } }>().deployment.status, 'paused', 'the deployment stays paused');
  // a replica that leads later never carries them out: a resume given then is done (commands
  // go oldest first), and the withdrawn ones stay as they were
  const back = follower;
  await bed.start(Number(back.id.slice('auth-'.length)));
  await poll(bed.status, (i) => i.leader?.replica === back.id, WAIT.run);
  const later = await runCli(['-c', back.configPath, 'deployment', 'resume', 'testnet', '--reason', 'go on', '--json']);
  t.equal(later.json<{ outcome: string }>().outcome, 'ok', diag(later));
  t.same((await commands()).slice(before.length, before.length + 3), added, 'the withdrawn commands were not carried out after all');
  t.same((await runs()).map((x) => x.id), [runId], 'and no run was started');
});
