// An agent with no shell runs upgrades on a real loopback fleet (an authority daemon and
// three node daemons, real gossip and applies): through MCP (an SDK client over stdio
// spawning `upshift mcp`) and then through POST /v1/tools/* on the authority daemon. A good
// version goes through a canary that waits for promotion; a version whose error rate rises
// is judged by check_canary_health and rolled back, and the canary returns to the old one.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { LoopbackFleet, type Daemon } from '../../../scripts/demo/fleet.js';
import type { SampleKnobs } from '../../../scripts/demo/sample-app.js';
import { CLI_PATH } from '../../helpers/cli.js';
import { mcpCall, mcpClient, rowCounts, until, type Answer } from '../../tools/helpers.js';

const TOKEN = 'tools-token-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'upshift-tools-fleet-'));
mkdirSync(join(dir, 'authority'), { recursive: true });
writeFileSync(join(dir, 'authority', 'tools.token'), `${TOKEN}\n`, { mode: 0o600 });
chmodSync(join(dir, 'authority', 'tools.token'), 0o600);
const fleet = new LoopbackFleet({
  dir,
  nodes: 3,
  cliPath: CLI_PATH,
  startTimeoutMs: 120_000,
  // no poll during the test: every run is started by a tool
  authority: {
    poll: '0 0 1 1 *',
    // The soak must outlast what a failing canary needs to be judged by check_canary_health and
    // rolled back by the tool (a few seconds after it confirms): else the pipeline judges it first.
    // Each good version waits it out in full, twice in this file, so it is no longer than that.
    canary: { fraction: 0.3, soak: '12s', check_every: '500ms', heartbeat_timeout: '6s', labels: ['region'], promotion: 'manual' },
  },
  http: { tools_token_file: 'tools.token' },
});
// registered before start: a fleet that fails half-way through starting is stopped too
t.teardown(async () => {
  await fleet.stop();
  rmSync(dir, { recursive: true, force: true });
});
try {
  await fleet.start();
} catch (err) {
  await fleet.stop();
  throw err;
}

type Tap = Test;
type Call = (name: string, args?: Record<string, unknown>) => Promise<Answer>;

async function httpCall(d: Daemon, name: string, args: Record<string, unknown> = {}, token: string | null = TOKEN): Promise<Answer & { status: number }> {
  const res = await fetch(`${d.url}/v1/tools/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(args),
  });
  return { ...((await res.json()) as Answer), status: res.status };
}

interface TrackStatus {
  running: { version: string } | null;
  last_apply: { version: string; state: string } | null;
}

async function nodeTrack(d: Daemon): Promise<TrackStatus> {
  const body = (await (await fetch(`${d.url}/v1/status`)).json()) as { tracks: Record<string, TrackStatus> };
  return body.tracks.testnet as TrackStatus;
}

const onVersion = (commit: string) => until(() => Promise.all(fleet.nodes.map(nodeTrack)),
  (all) => all.every((s) => s.running?.version === commit && s.last_apply?.state === 'confirmed'), 60_000);

async function runOf(call: Call, version: string, done: boolean): Promise<{ id: string; status: string; stage: string; reason: string | null }> {
  const s = await until(() => call('check_upgrade_status'), (a) => {
    const run = a.evidence.tracks.find((x: { track: string }) => x.track === 'testnet')?.run;
    return run?.version === version && (!done || ['completed', 'failed', 'rolled_back'].includes(run.status));
  }, 180_000);
  return s.evidence.tracks.find((x: { track: string }) => x.track === 'testnet').run;
}

/** A good version: dry run (nothing written), start, canary soak, promotion, completed everywhere. */
async function goodUpgrade(t: Tap, call: Call, knobs: SampleKnobs): Promise<string> {
  const commit = fleet.commit(knobs);
  const before = rowCounts(fleet.authority.stateDir);
  const dry = await call('start_upgrade', { ref: commit, dry_run: true });
  t.equal(dry.ok, true, dry.reason);
  t.same(rowCounts(fleet.authority.stateDir), before, 'the dry run wrote nothing');
  t.equal(dry.evidence.canaries.would_pick, 1, 'one canary of three eligible nodes');
  t.equal(dry.evidence.canaries.eligible.length, 3);
  t.equal(dry.evidence.rollout.promotion, 'manual');

  const started = await call('start_upgrade', { ref: commit });
  t.equal(started.ok, true, started.reason);
  const runId = started.evidence.run.id as string;
  const status = await call('check_upgrade_status');
  t.equal(status.evidence.tracks[0].run.id, runId, 'status shows the run while it is driven');

  // advance answers at once until the canary soak passed, then promotes
  let waited: Answer | null = null;
  const promoted = await until(() => call('advance_upgrade_pipeline', { run: runId, reason: 'canary looks good' }), (a) => {
    if (a.ok && a.evidence.action === 'waiting' && a.evidence.waiting) waited = a;
    return !a.ok || a.evidence.action === 'promoted';
  }, 180_000);
  t.equal(promoted.ok, true, promoted.reason);
  t.equal(promoted.evidence.action, 'promoted', promoted.reason);
  t.ok(waited, 'before the soak ended it said what the run waited for');
  const run = await runOf(call, commit, true);
  t.equal(run.status, 'completed', run.reason ?? '');
  const all = await onVersion(commit);
  t.ok(all.every((s) => s.running?.version === commit), 'every node runs it', { all });
  return commit;
}

/** A version whose error rate rises on the canary: health names it, rollback returns the canary to `good`. */
async function badUpgrade(t: Tap, call: Call, knobs: SampleKnobs, good: string): Promise<void> {
  const commit = fleet.commit(knobs);
  const started = await call('start_upgrade', { ref: commit });
  t.equal(started.ok, true, started.reason);
  const runId = started.evidence.run.id as string;
  const health = await until(() => call('check_canary_health', { run: runId }),
    (a) => a.ok && a.evidence.nodes[0]?.numbers.error_rate > 0.1
      && a.evidence.failing.some((f: { criterion: string }) => f.criterion === 'error_rate'), 120_000);
  const failing = health.evidence.failing.find((f: { criterion: string }) => f.criterion === 'error_rate');
  t.ok(failing, `error_rate fails: ${health.reason}`);
  const [canary] = health.evidence.nodes;
  t.equal(canary.confirmed, true, 'judged once it confirmed the release');
  t.match(failing.detail, /canary 0\.\d+ vs control 0\.\d+/, 'the numbers of both');
  t.ok(canary.numbers.error_rate > 0.1, `the canary's error rate is there: ${canary.numbers.error_rate}`);
  t.ok(health.evidence.control.error_rate !== null && health.evidence.control.error_rate < canary.numbers.error_rate, 'beside the control group\'s');
  t.equal(health.evidence.control.nodes.length, 2);
  t.ok(health.evidence.soak.left_ms !== null, 'with the time left in the soak');
  t.match(health.reason, /error_rate/);

  const rolled = await call('rollback_upgrade', { run: runId, reason: 'canary error rate above the control group' });
  t.equal(rolled.ok, true, rolled.reason);
  const run = await runOf(call, commit, true);
  t.equal(run.status, 'rolled_back', run.reason ?? '');
  const node = fleet.nodes.find((n) => n.id === canary.node) as Daemon;
  const back = await until(() => nodeTrack(node), (s) => s.running?.version === good, 60_000);
  t.equal(back.running?.version, good, `canary ${canary.node} is back on the old version`);
}

const { client } = await mcpClient(t, fleet.authority.configPath);
const viaMcp: Call = (name, args = {}) => mcpCall(client, name, args);
const viaHttp: Call = (name, args = {}) => httpCall(fleet.authority, name, args);
let good = '';

t.test('over MCP: the first version reaches every node (no healthy node yet, so no canary)', async (t) => {
  const v1 = fleet.commit({ version: 'v1', latencyMs: 10 });
  const started = await viaMcp('start_upgrade', { ref: v1 });
  t.equal(started.ok, true, started.reason);
  const run = await runOf(viaMcp, v1, true);
  t.equal(run.status, 'completed', run.reason ?? '');
  const all = await onVersion(v1);
  t.ok(all.every((s) => s.running?.version === v1), 'every node runs v1', { all });
  good = v1;
});

t.test('over MCP: a good version through a canary waiting for promotion', async (t) => {
  good = await goodUpgrade(t, viaMcp, { version: 'v2', latencyMs: 9 });
});

t.test('over MCP: a rising error rate on the canary, judged and rolled back', async (t) => {
  await badUpgrade(t, viaMcp, { version: 'v3', latencyMs: 9, errorRate: 0.3 }, good);
});

t.test('over HTTP: the token is required, compared, and the answers are coded', async (t) => {
  const none = await httpCall(fleet.authority, 'check_upgrade_status', {}, null);
  t.equal(none.status, 401);
  t.equal(none.error?.code, 'E_UNAUTHORIZED');
  const wrong = await httpCall(fleet.authority, 'check_upgrade_status', {}, 'not-the-tools-token-at-all');
  t.equal(wrong.status, 401);
  const untokened = await httpCall(fleet.nodes[0] as Daemon, 'check_upgrade_status');
  t.equal(untokened.status, 403, 'a daemon without http.tools_token_file serves no tools');
  t.match(untokened.reason, /tools_token_file/);
  const unknown = await viaHttp('upgrade_everything');
  t.equal(unknown.error?.code, 'E_UNKNOWN_TOOL');
  const schema = await httpCall(fleet.authority, 'rollback_upgrade', { reason: 7 });
  t.equal(schema.status, 400);
  t.equal(schema.error?.code, 'E_USAGE');
  const nothing = await viaHttp('rollback_upgrade', { reason: 'nothing runs' });
  t.equal(nothing.error?.code, 'E_RUN_NOT_FOUND');
});

t.test('over HTTP: a good version through the promotion gate', async (t) => {
  good = await goodUpgrade(t, viaHttp, { version: 'v4', latencyMs: 9 });
});

t.test('over HTTP: a failing version judged and rolled back', async (t) => {
  await badUpgrade(t, viaHttp, { version: 'v5', latencyMs: 9, errorRate: 0.3 }, good);
});

t.test('every mutating call is in the audit trail: caller, tool, arguments, outcome, time', async (t) => {
  const { openStore } = await import('../../../src/runtime/deps.js');
  const store = openStore(fleet.authority.stateDir);
  try {
    const calls = await store.eventsOfKind(['tool.call'], 1000);
    const callers = new Set(calls.map((e) => e.actor.split(':')[0]));
    t.ok(callers.has('mcp') && callers.has('http'), `both doors audited: ${[...callers].join(', ')}`);
    const rollback = calls.find((e) => e.data.tool === 'rollback_upgrade' && e.data.outcome === 'ok');
    t.match(rollback?.data, { arguments: { reason: /error rate/ } });
    t.ok(rollback && rollback.at > 0 && rollback.runId, 'with its time and run');
    t.notOk(calls.some((e) => e.data.tool === 'check_upgrade_status'), 'reads are not audited');
    t.ok(calls.some((e) => e.data.outcome === 'E_RUN_NOT_FOUND'), 'refusals are recorded with their code');
  } finally {
    store.close();
  }
});
