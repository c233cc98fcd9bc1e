// Issue 13, "Replicas and one leader": three real `upshift daemon` replicas with the same
// authority config on one real PostgreSQL database. One leads; the leader is killed with
// kill -9 while a run is held in its test stage, another replica takes over and finishes the
// run; followers answer status and fleet ls; an approve given through a follower's config is
// queued and carried out once by the leader; `authority status` shows leader, epoch, replicas.
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Daemon } from '../../../scripts/demo/fleet.js';
import { sampleAppFiles, type SampleKnobs } from '../../../scripts/demo/sample-app.js';
import { diag, runCli } from '../../helpers/cli.js';
import { postgresAvailable } from '../../helpers/postgres.js';
import { processGone } from '../../helpers/procs.js';
import { replicaBed } from '../../helpers/replica-bed.js';
import { poll, WAIT } from '../../helpers/timeouts.js';

if (!postgresAvailable()) t.plan(0, 'PostgreSQL is not installed (.ci/run installs it)');

const TOOLS_TOKEN = 'replica-tools-token-0123456789';
// the same authority config on every replica, each with its own listen address, state dir
// and a tools token
const bed = await replicaBed(t, {
  configure: (config, dir) => {
    writeFileSync(join(dir, 'tools.token'), `${TOOLS_TOKEN}\n`, { mode: 0o600 });
    config.http = { tools_token_file: 'tools.token' };
  },
});
const { admin } = bed;
const commit = (k: SampleKnobs, extra: Record<string, string> = {}) => bed.repo.commit(k.version, { ...sampleAppFiles(k), ...extra });
const marker = bed.marker('held');
const hold = { SAMPLE_HOLD: 'test', SAMPLE_HOLD_MARKER: marker };

const tool = async (d: Daemon, name: string, args: unknown) => (await fetch(`${d.url}/v1/tools/${name}`, {
  method: 'POST', headers: { authorization: `Bearer ${TOOLS_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(args),
})).json() as Promise<{ ok: boolean; reason: string; error?: { code: string }; evidence: Record<string, unknown> }>;

const info = bed.status;
const byName = (name: string | undefined) => [...bed.replicas.values()].find((d) => d.id === name) as Daemon;
const runs = async () => (await admin.query('SELECT id, status, stage, retry_of FROM runs ORDER BY created_at')).rows as
  Array<{ id: string; status: string; stage: string; retry_of: string | null }>;
const tail = bed.tail;

const all = [await bed.start(1, hold), ...await bed.startAll([2, 3], hold)];

t.test('one replica leads; `authority status` names it, its epoch and every replica', async (t) => {
  await poll(info, (i) => i.leader !== null && i.replicas.length === 3, WAIT.daemonStart);
  const seen = await bed.info(all[0] as Daemon);
  t.ok(seen.leader, 'a leader was elected');
  t.ok((seen.leader?.epoch ?? 0) >= 1);
  t.same(seen.replicas.map((r) => r.replica).sort(), ['auth-1', 'auth-2', 'auth-3']);
  t.equal(seen.replicas.filter((r) => r.leader).length, 1, 'exactly one is marked leader');
  t.equal(seen.replication.synchronous, false, 'this test server has no standby');
  const text = await runCli(['-c', (all[1] as Daemon).configPath, 'authority', 'status']);
  t.match(text.stdout, /leader: auth-\d, epoch \d+/);
  t.match(text.stdout, /synchronous standbys: NONE/);
});

let killed = '';
let firstEpoch = 0;
t.test('the leader is killed with kill -9 mid-run; another replica takes over and finishes the run', async (t) => {
  commit({ version: 'v1', latencyMs: 10 });
  // the leader's test stage holds (SAMPLE_HOLD) until it is killed; the marker says it got there
  t.ok(await poll(() => existsSync(marker), Boolean, WAIT.run), 'the run reached its test stage', { runs: await runs() });
  const before = await info();
  killed = before.leader?.replica as string;
  firstEpoch = before.leader?.epoch as number;
  const victim = byName(killed);
  const killedAt = Date.now();
  process.kill(victim.child?.pid as number, 'SIGKILL');
  t.ok(await poll(() => processGone(victim.child?.pid as number), Boolean, WAIT.reap), `${killed} is gone`);
  const after = await poll(info, (i) => i.leader !== null && i.leader.replica !== killed, WAIT.run);
  t.not(after.leader?.replica, killed, 'another replica leads');
  t.ok((after.leader?.epoch ?? 0) > firstEpoch, 'with a newer epoch');
  // a figure for the report, not an assertion: kill -9 to the new leader's first log line as leader
  const led = /"time":"([^"]+)"[^\n]*leading the fleet/.exec(readFileSync(byName(after.leader?.replica).logPath, 'utf8'))?.[1];
  if (led) t.comment(`kill -9 to a new leader: ${Date.parse(led) - killedAt} ms`);
  const done = await poll(runs, (rs) => rs.length === 1 && rs[0]?.status === 'completed', WAIT.run, 500);
  t.equal(done[0]?.status, 'completed', 'the run completed under the new leader', { runs: done, log: tail(byName(after.leader?.replica)) });
  const manifests = (await admin.query('SELECT track, seq, count(*)::int AS n, count(DISTINCT envelope)::int AS envelopes FROM manifests GROUP BY track, seq')).rows;
  t.ok(manifests.length > 0, 'a manifest was signed');
  t.ok(manifests.every((m: { n: number; envelopes: number }) => m.n === 1 && m.envelopes === 1), 'one envelope per (track, seq)', { manifests });
});

t.test('a follower answers status and fleet ls, and /v1/status names the leader', async (t) => {
  const current = await info();
  const follower = all.find((d) => d.id !== killed && d.id !== current.leader?.replica) as Daemon;
  const status = await runCli(['-c', follower.configPath, 'status', '--json']);
  t.equal(status.code, 0, diag(status));
  const body = status.json<{ authority_store: { kind: string; leader: { replica: string } } }>();
  t.equal(body.authority_store.kind, 'postgres');
  t.equal(body.authority_store.leader.replica, current.leader?.replica);
  const text = await runCli(['-c', follower.configPath, 'status']);
  t.match(text.stdout, /store: postgres, leader auth-\d \(epoch \d+\), NO synchronous standby/);
  const ls = await runCli(['-c', follower.configPath, 'fleet', 'ls', '--json']);
  t.equal(ls.code, 0, diag(ls));
  const http = await (await fetch(`${follower.url}/v1/status`)).json() as { authority_store: { kind: string; leader: { replica: string }; replica: string } };
  t.equal(http.authority_store.leader.replica, current.leader?.replica, 'the follower daemon serves /v1/status');
  t.equal(http.authority_store.replica, follower.id);
  t.equal((await fetch(`${follower.url}/metrics`)).status, 200, 'and /metrics');
});

t.test('an approve given to a follower is queued and carried out once by the leader', async (t) => {
  // v2 changes a protected path (stage.sh): its audit fails and it waits for an approval
  commit({ version: 'v2', latencyMs: 10 }, { 'stage.sh': `${sampleAppFiles({ version: 'v2', latencyMs: 10 })['stage.sh']}\n# changed\n` });
  const failed = await poll(runs, (rs) => rs.length === 2 && rs[1]?.status === 'failed', WAIT.run, 500);
  t.equal(failed[1]?.stage, 'failed', 'v2 stopped at its audit', { runs: failed });
  const v2 = failed[1]?.id as string;
  const current = await info();
  const follower = all.find((d) => d.id !== killed && d.id !== current.leader?.replica) as Daemon;
  const approve = await runCli(['-c', follower.configPath, 'pipeline', 'approve', v2, '--reason', 'reviewed the hook', '--json']);
  t.equal(approve.code, 0, diag(approve));
  const answer = approve.json<{ command: number; outcome: string | null; done_by: string | null; done_epoch: number | null }>();
  const cmd = await poll(async () => (await admin.query('SELECT done_by, done_epoch, outcome, by, accepted_by FROM upshift_commands WHERE id = $1', [answer.command])).rows[0],
    (r) => r?.outcome !== null, WAIT.run);
  t.equal(cmd.outcome, 'ok', 'the leader carried it out', { cmd, answer });
  t.equal(cmd.done_by, current.leader?.replica, 'the leader, not the follower that accepted it');
  t.equal(Number(cmd.done_epoch), current.leader?.epoch);
  t.match(cmd.accepted_by, /^cli:/);
  const retries = (await runs()).filter((r) => r.retry_of === v2);
  t.equal(retries.length, 1, 'one approved retry');
  const audited = (await admin.query("SELECT actor, data FROM events WHERE kind = 'command.executed'")).rows;
  t.equal(audited.length, 1, 'audited once', { audited });
  t.match(audited[0]?.actor, /^cli:/);
  // the same approve again: carried out again, and still one retry
  const again = await runCli(['-c', follower.configPath, 'pipeline', 'approve', v2, '--reason', 'reviewed the hook']);
  t.equal(again.code, 0, diag(again));
  t.match(again.stdout, /already approved|queued as command/);
  t.equal((await runs()).filter((r) => r.retry_of === v2).length, 1, 'never a second retry');
});

t.test('agent tools on a follower: rollback is queued for the leader, what only the leader does is refused', async (t) => {
  const current = await info();
  const follower = all.find((d) => d.id !== killed && d.id !== current.leader?.replica) as Daemon;
  const start = await tool(follower, 'start_upgrade', { ref: 'main', reason: 'from a follower' });
  t.equal(start.ok, false);
  t.equal(start.error?.code, 'E_NOT_LEADER', start.reason);
  t.equal(start.evidence.leader, current.leader?.replica);
  const first = (await runs())[0]?.id as string;
  const rb = await tool(follower, 'rollback_upgrade', { run: first, reason: 'from a follower' });
  t.equal(rb.ok, true, rb.reason);
  t.match(rb.reason, /queued as command #\d+/);
  const cmd = await poll(async () => (await admin.query('SELECT outcome, result, done_by FROM upshift_commands WHERE id = $1', [rb.evidence.command])).rows[0],
    (r) => r?.outcome !== null, WAIT.run);
  t.equal(cmd.outcome, 'failed', 'the leader refused it: that run already ended');
  t.match(JSON.parse(cmd.result).code, 'E_RUN_TERMINAL');
  t.equal(cmd.done_by, current.leader?.replica);
  const status = await tool(follower, 'check_upgrade_status', {});
  t.equal(status.ok, true, 'reads answer on a follower');
});

t.test('SIGTERM: the leader resigns and a follower takes over', async (t) => {
  const current = await info();
  const leader = byName(current.leader?.replica);
  await bed.stop(leader);
  t.equal(leader.child?.exitCode, 0, 'the leader exits 0 after resigning', { log: tail(leader) });
  const other = all.find((d) => d.id !== killed && d.id !== leader.id) as Daemon;
  const next = await poll(info, (i) => i.leader?.replica === other.id, WAIT.run);
  t.equal(next.leader?.replica, other.id, 'the last replica leads');
  t.equal(next.leader?.epoch, (current.leader?.epoch ?? 0) + 1);
});

t.test('a leader stalled past stall_timeout is deposed; resumed, it logs E_FENCED and exits non-zero', async (t) => {
  const current = await info();
  const leader = byName(current.leader?.replica);
  // the replica SIGTERMed above comes back, as systemd would restart it: a follower
  const back = all.find((d) => d.id !== killed && d.id !== leader.id) as Daemon;
  await bed.start(Number(back.id.slice('auth-'.length)), hold);
  const pid = leader.child?.pid as number;
  const exited = new Promise<number | null>((resolve) => leader.child?.once('exit', (code) => resolve(code)));
  process.kill(pid, 'SIGSTOP');
  const next = await poll(info, (i) => i.leader?.replica === back.id, WAIT.run);
  t.equal(next.leader?.replica, back.id, 'the follower deposed the stalled leader');
  t.equal(next.leader?.epoch, (current.leader?.epoch ?? 0) + 1);
  process.kill(pid, 'SIGCONT');
  t.equal(await exited, 1, 'the deposed leader exits non-zero (systemd restarts it as a follower)');
  t.match(readFileSync(leader.logPath, 'utf8'), /"code":"E_FENCED"/, 'and logged E_FENCED');
  const http = await fetch(`${back.url}/metrics`);
  t.equal(http.status, 200, 'the new leader serves /metrics');
});
