// Issue 13, "Replicas and one leader": three real `upshift daemon` replicas with the same
// authority config on one real PostgreSQL database. One leads; the leader is killed with
// kill -9 while a run is held in its test stage, another replica takes over and finishes the
// run; followers answer status and fleet ls; an approve given through a follower's config is
// queued and carried out once by the leader; `authority status` shows leader, epoch, replicas.
import t from 'tap';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort, LoopbackFleet, type Daemon } from '../../scripts/demo/fleet.js';
import { sampleAppFiles, type SampleKnobs } from '../../scripts/demo/sample-app.js';
import { createWorkspace, localSandbox } from '../../scripts/demo/workspace.js';
import { CLI_PATH, diag, runCli } from '../helpers/cli.js';
import { gitRepo } from '../helpers/gitdir.js';
import { postgresAvailable, startPostgres } from '../helpers/postgres.js';
import { processGone } from '../helpers/procs.js';
import { poll, WAIT } from '../helpers/timeouts.js';
import { tempDir } from '../helpers/tmp.js';

if (!postgresAvailable()) t.plan(0, 'PostgreSQL is not installed (.ci/run installs it)');

const db = await startPostgres(t);
const admin = await db.client();
t.teardown(() => admin.end());

const root = tempDir(t, 'upshift-replicas-');
chmodSync(root, 0o711); // the build user passes through to each replica's work dir
const repo = gitRepo(t);
const commit = (k: SampleKnobs, extra: Record<string, string> = {}) => repo.commit(k.version, { ...sampleAppFiles(k), ...extra });
// stage commands run as the build user: the marker's directory must be theirs to write
const holdDir = join(root, 'hold');
mkdirSync(holdDir);
chmodSync(holdDir, 0o777);
const marker = join(holdDir, 'held');

// one workspace (keys, config), copied per replica: the same authority config, its own
// listen address and state dir
const ws = await createWorkspace(join(root, 'auth-1'), {
  source: repo.dir,
  authority: {
    poll: '* * * * * *',
    tracks: { testnet: { branch: 'main' } },
    sandbox: localSandbox(['SAMPLE_HOLD', 'SAMPLE_HOLD_MARKER']),
    canary: { soak: '1s' },
  },
});
const base = parse(readFileSync(ws.configPath, 'utf8')) as Record<string, any>;
base.node.tracks = ['testnet'];
base.log = { level: 'info' };

const TOOLS_TOKEN = 'replica-tools-token-0123456789';
const tool = async (d: Daemon, name: string, args: unknown) => (await fetch(`${d.url}/v1/tools/${name}`, {
  method: 'POST', headers: { authorization: `Bearer ${TOOLS_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(args),
})).json() as Promise<{ ok: boolean; reason: string; error?: { code: string }; evidence: Record<string, unknown> }>;
const procs = new LoopbackFleet({ dir: root, nodes: 0, cliPath: CLI_PATH, waits: { daemonStart: WAIT.daemonStart, stopGrace: WAIT.stopGrace } });
const replicas: Daemon[] = [];
t.teardown(async () => {
  await Promise.all(replicas.map((d) => procs.stopDaemon(d, 'SIGKILL')));
});

async function replica(n: number): Promise<Daemon> {
  const dir = join(root, `auth-${n}`);
  if (n > 1) {
    cpSync(join(root, 'auth-1', 'keys'), join(dir, 'keys'), { recursive: true });
    chmodSync(dir, 0o711);
  }
  const port = await freePort();
  const config = structuredClone(base);
  config.gossip = { listen: `127.0.0.1:${port}` };
  writeFileSync(join(dir, 'tools.token'), `${TOOLS_TOKEN}\n`, { mode: 0o600 });
  config.http = { tools_token_file: 'tools.token' };
  config.authority.store = {
    kind: 'postgres', hosts: [db.host], database: db.database, user: db.user, stall_timeout: '3s', replica: `auth-${n}`,
  };
  writeFileSync(join(dir, 'upshift.yaml'), stringify(config));
  const d: Daemon = {
    id: `auth-${n}`, dir, configPath: join(dir, 'upshift.yaml'), stateDir: join(dir, 'state'), url: `http://127.0.0.1:${port}`,
    logPath: join(dir, 'daemon.log'), appPort: null, appDir: null, child: null,
  };
  replicas.push(d);
  await procs.startDaemon(d, { SAMPLE_HOLD: 'test', SAMPLE_HOLD_MARKER: marker });
  return d;
}

interface Info {
  leader: { replica: string; epoch: number } | null;
  replicas: Array<{ replica: string; leader: boolean; renewed_ago_ms: number }>;
  replication: { synchronous: boolean };
}
const info = async (d: Daemon): Promise<Info> => {
  const r = await runCli(['-c', d.configPath, 'authority', 'status', '--json']);
  if (r.code !== 0) throw new Error(`authority status failed: ${JSON.stringify(diag(r))}`);
  return r.json<Info>();
};
const byName = (name: string | undefined) => replicas.find((d) => d.id === name) as Daemon;
const runs = async () => (await admin.query('SELECT id, status, stage, retry_of FROM runs ORDER BY created_at')).rows as
  Array<{ id: string; status: string; stage: string; retry_of: string | null }>;

const all = [await replica(1), await replica(2), await replica(3)];

t.test('one replica leads; `authority status` names it, its epoch and every replica', async (t) => {
  const seen = await poll(() => info(all[0] as Daemon), (i) => i.leader !== null && i.replicas.length === 3, WAIT.daemonStart);
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
  const before = await info(all[0] as Daemon);
  killed = before.leader?.replica as string;
  firstEpoch = before.leader?.epoch as number;
  const victim = byName(killed);
  const killedAt = Date.now();
  process.kill(victim.child?.pid as number, 'SIGKILL');
  t.ok(await poll(() => processGone(victim.child?.pid as number), Boolean, WAIT.reap), `${killed} is gone`);
  const survivor = all.find((d) => d.id !== killed) as Daemon;
  const after = await poll(() => info(survivor), (i) => i.leader !== null && i.leader.replica !== killed, WAIT.run);
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
  const current = await info(all.find((d) => d.id !== killed) as Daemon);
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
  // v2 changes a protected path (stage.js): its audit fails and it waits for an approval
  commit({ version: 'v2', latencyMs: 10 }, { 'stage.js': `${sampleAppFiles({ version: 'v2', latencyMs: 10 })['stage.js']}\n// changed\n` });
  const failed = await poll(runs, (rs) => rs.length === 2 && rs[1]?.status === 'failed', WAIT.run, 500);
  t.equal(failed[1]?.stage, 'failed', 'v2 stopped at its audit', { runs: failed });
  const v2 = failed[1]?.id as string;
  const current = await info(all.find((d) => d.id !== killed) as Daemon);
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
  const current = await info(all.find((d) => d.id !== killed) as Daemon);
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
  const current = await info(all.find((d) => d.id !== killed) as Daemon);
  const leader = byName(current.leader?.replica);
  await procs.stopDaemon(leader, 'SIGTERM');
  t.equal(leader.child?.exitCode, 0, 'the leader exits 0 after resigning', { log: tail(leader) });
  const other = all.find((d) => d.id !== killed && d.id !== leader.id) as Daemon;
  const next = await poll(() => info(other), (i) => i.leader?.replica === other.id, WAIT.run);
  t.equal(next.leader?.replica, other.id, 'the last replica leads');
  t.equal(next.leader?.epoch, (current.leader?.epoch ?? 0) + 1);
});

t.test('a leader stalled past stall_timeout is deposed; resumed, it logs E_FENCED and exits non-zero', async (t) => {
  const current = await info(all[0] as Daemon);
  const leader = byName(current.leader?.replica);
  // the replica SIGTERMed above comes back, as systemd would restart it: a follower
  const back = all.find((d) => d.id !== killed && d.id !== leader.id) as Daemon;
  await procs.startDaemon(back, { SAMPLE_HOLD: 'test', SAMPLE_HOLD_MARKER: marker });
  const pid = leader.child?.pid as number;
  const exited = new Promise<number | null>((resolve) => leader.child?.once('exit', (code) => resolve(code)));
  process.kill(pid, 'SIGSTOP');
  const next = await poll(() => info(back), (i) => i.leader?.replica === back.id, WAIT.run);
  t.equal(next.leader?.replica, back.id, 'the follower deposed the stalled leader');
  t.equal(next.leader?.epoch, (current.leader?.epoch ?? 0) + 1);
  process.kill(pid, 'SIGCONT');
  t.equal(await exited, 1, 'the deposed leader exits non-zero (systemd restarts it as a follower)');
  t.match(readFileSync(leader.logPath, 'utf8'), /"code":"E_FENCED"/, 'and logged E_FENCED');
  const http = await fetch(`${back.url}/metrics`);
  t.equal(http.status, 200, 'the new leader serves /metrics');
});

function tail(d: Daemon | undefined): string {
  if (!d || !existsSync(d.logPath)) return '';
  return readFileSync(d.logPath, 'utf8').split('\n').slice(-30).join('\n');
}
