// The agent tools over MCP as an agent uses them: a real SDK client over stdio spawning
// `upshift mcp` against a real authority (a sample-app repository, real stages, real
// SQLite). Lists the ten tools, dry-runs and drives an upgrade to the end, registers a
// benchmark repository, and checks that bad input is answered with a code and changes nothing.
import t from 'tap';
import { sampleAppFiles } from '../../scripts/demo/sample-app.js';
import { createWorkspace } from '../../scripts/demo/workspace.js';
import { gitRepo } from '../helpers/gitdir.js';
import { tempDir } from '../helpers/tmp.js';
import { mcpCall, mcpClient, rowCounts, stateCounts, until, type Answer } from './helpers.js';

const TEN = [
  'advance_upgrade_pipeline', 'capture_benchmark', 'check_canary_health', 'check_upgrade_status', 'compare_benchmarks',
  'get_benchmark_history', 'list_benchmarks', 'register_benchmark', 'rollback_upgrade', 'start_upgrade',
];

const repo = gitRepo(t);
const v1 = repo.commit('v1', sampleAppFiles({ version: 'v1', latencyMs: 10 }));
const ws = await createWorkspace(tempDir(t, 'upshift-tools-'), { source: repo.dir, authority: { canary: { promotion: 'manual' } } });
const { client, stderr } = await mcpClient(t, ws.configPath);
const call = (name: string, args: Record<string, unknown> = {}) => mcpCall(client, name, args);

/** Poll check_upgrade_status until the track's newest run of `version` ended. */
async function ended(version: string): Promise<Answer> {
  return until(() => call('check_upgrade_status'), (s) => {
    const run = s.evidence.tracks.find((x: { track: string }) => x.track === 'testnet')?.run;
    return run?.version === version && ['completed', 'failed', 'rolled_back'].includes(run.status);
  });
}

t.test('tools/list has exactly the ten tools, each with a described schema and annotations', async (t) => {
  const { tools } = await client.listTools();
  t.same(tools.map((x) => x.name).sort(), TEN);
  for (const tool of tools) {
    t.ok(tool.description && tool.description.length > 40, `${tool.name} says what it does`);
    t.equal(tool.inputSchema.type, 'object');
    for (const [field, schema] of Object.entries(tool.inputSchema.properties ?? {})) {
      t.ok((schema as { description?: string }).description, `${tool.name}.${field} is described`);
    }
    const a = tool.annotations ?? {};
    t.equal(typeof a.readOnlyHint, 'boolean', `${tool.name} readOnlyHint`);
    t.equal(typeof a.destructiveHint, 'boolean', `${tool.name} destructiveHint`);
    t.equal(typeof a.idempotentHint, 'boolean', `${tool.name} idempotentHint`);
  }
  const hint = (n: string) => tools.find((x) => x.name === n)?.annotations;
  t.match(hint('rollback_upgrade'), { readOnlyHint: false, destructiveHint: true });
  t.match(hint('check_canary_health'), { readOnlyHint: true, destructiveHint: false });
});

t.test('a dry run says what would happen and writes nothing', async (t) => {
  const before = rowCounts(ws.stateDir);
  const dry = await call('start_upgrade', { dry_run: true });
  t.equal(dry.ok, true, dry.reason);
  t.same(rowCounts(ws.stateDir), before, 'every table has the rows it had');
  t.equal(dry.evidence.candidate.commit, v1, 'the commit main points at');
  t.same(dry.evidence.stages.map((s: { stage: string }) => s.stage), ['build', 'test', 'audit', 'benchmark', 'sign', 'canary', 'deploy']);
  t.same(dry.evidence.stages[0].commands, ['sh build.sh'], 'with the configured commands');
  const gates = dry.evidence.gates.map((g: { gate: string }) => g.gate);
  t.ok(gates.includes('no_benchmark_baseline'), 'first version: no benchmark baseline');
  t.ok(gates.includes('no_eligible_canary'), 'no node: no canary');
  t.match(dry.reason, /nothing written/);
});

t.test('start → status while it runs → advance answers at once → completed', async (t) => {
  const started = await call('start_upgrade', {});
  t.equal(started.ok, true, started.reason);
  t.equal(started.evidence.created, true);
  const runId = started.evidence.run.id as string;
  const status = await call('check_upgrade_status');
  t.equal(status.ok, true);
  const track = status.evidence.tracks.find((x: { track: string }) => x.track === 'testnet');
  t.equal(track.run.id, runId, 'the status names the run');
  const adv = await call('advance_upgrade_pipeline', { run: runId });
  if (adv.ok) t.equal(adv.evidence.action, 'waiting', 'no manual gate: it says what the run waits for');
  else t.equal(adv.error?.code, 'E_RUN_TERMINAL', 'or the run already ended');
  const done = await ended(v1);
  const run = done.evidence.tracks.find((x: { track: string }) => x.track === 'testnet');
  t.equal(run.run.status, 'completed', run.run.reason ?? '');
  t.equal(run.running.version, v1, 'the track runs it now');
});

t.test('bad input: a coded answer and the state unchanged', async (t) => {
  const before = stateCounts(ws.stateDir);
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['start_upgrade', { dry_run: 'yes' }, 'E_USAGE'],
    ['start_upgrade', { surprise: 1 }, 'E_USAGE'],
    ['no_such_tool', {}, 'E_UNKNOWN_TOOL'],
    ['rollback_upgrade', { reason: 'nothing is running' }, 'E_RUN_NOT_FOUND'],
    ['rollback_upgrade', {}, 'E_USAGE'],
    ['advance_upgrade_pipeline', {}, 'E_RUN_NOT_FOUND'],
    ['start_upgrade', { ref: 'no-such-branch' }, 'E_UNKNOWN_REF'],
    ['start_upgrade', { ref: 'main' }, 'E_RUN_TERMINAL'],
    ['register_benchmark', { repo_url: '/nonexistent/bench.git', name: 'ghost' }, 'E_GIT'],
    ['compare_benchmarks', { old: 'v0.0.0', new: 'v9.9.9' }, 'E_USAGE'],
  ];
  for (const [name, args, code] of cases) {
    const r = await call(name, args);
    t.equal(r.ok, false, `${name} ${JSON.stringify(args)} refused`);
    t.equal(r.error?.code, code, `${name} ${JSON.stringify(args)}: ${r.reason}`);
    t.ok(r.reason.length > 10, 'with a reason');
  }
  const quiet = gitRepo(t);
  quiet.commit('bench that prints nothing', { 'bench.sh': 'echo "no metrics here"\n' });
  const none = await call('register_benchmark', { repo_url: quiet.dir, name: 'quiet' });
  t.equal(none.error?.code, 'E_COMMAND_FAILED', none.reason);
  t.match(none.reason, /not registered/);
  t.same(stateCounts(ws.stateDir), before, 'no table but the audit trail changed');
});

t.test('start while a run of the track is active is refused', async (t) => {
  // a version whose tests take a while, so the run is still active when the second start comes
  const slow = repo.commit('v2 slow tests', { ...sampleAppFiles({ version: 'v2', latencyMs: 10 }), 'test.sh': "stage=test\n. ./stage.sh\nsleep 4\nprintf 'TAP version 14\\n1..1\\nok 1 - slow\\n'\n" });
  const first = await call('start_upgrade', { ref: slow });
  t.equal(first.ok, true, first.reason);
  const next = repo.commit('v3', sampleAppFiles({ version: 'v3', latencyMs: 10 }));
  // the first run goes on writing its own stage rows meanwhile: compare everything else
  const untouched = () => {
    const { stage_results: _r, stage_attempts: _a, run_facts: _f, ...rest } = stateCounts(ws.stateDir);
    return rest;
  };
  const before = untouched();
  const second = await call('start_upgrade', { ref: next });
  t.equal(second.error?.code, 'E_RUN_ACTIVE', second.reason);
  t.same(untouched(), before, 'nothing created: no run, no manifest, no plan');
  const rolled = await call('rollback_upgrade', { reason: 'test: stop the slow run' });
  t.equal(rolled.ok, true, rolled.reason);
  await ended(slow);
});

t.test('a registered benchmark repository runs in the next BENCHMARK and shows in the history', async (t) => {
  const bench = gitRepo(t);
  bench.commit('bench', {
    'bench.sh': 'n=$(ls "${UPSHIFT_APP_DIR:-.}" | wc -l)\necho "{\\"metrics\\":{\\"app_files\\":{\\"value\\":$n,\\"better\\":\\"lower\\"}}}"\n',
  });
  const reg = await call('register_benchmark', { repo_url: bench.dir, name: 'extra', tier: 'fast' });
  t.equal(reg.ok, true, reg.reason);
  t.equal(reg.evidence.commit, bench.head(), 'pinned at the fetched commit');
  const ls = await call('list_benchmarks');
  t.same(ls.evidence.suites.map((s: { name: string; source: string }) => `${s.name}:${s.source}`), ['micro:config', 'extra:registered']);

  const v4 = repo.commit('v4', sampleAppFiles({ version: 'v4', latencyMs: 10 }));
  t.equal((await call('start_upgrade', { ref: v4 })).ok, true);
  const done = await ended(v4);
  t.equal(done.evidence.tracks[0].run.status, 'completed', done.evidence.tracks[0].run.reason ?? '');
  const hist = await call('get_benchmark_history', { suite: 'extra' });
  t.equal(hist.ok, true);
  t.equal(hist.evidence.snapshots[0]?.version, v4, "the registered suite was measured in v4's run");
  t.ok(hist.evidence.snapshots[0].metrics.app_files.value > 3, "in the app's work tree");

  const cap = await call('capture_benchmark', { version: v1, tier: 'fast' });
  t.equal(cap.ok, true, cap.reason);
  t.same(cap.evidence.snapshots.map((s: { suite: string }) => s.suite).sort(), ['extra', 'micro']);
  const cmp = await call('compare_benchmarks', { old: v1, new: v4 });
  t.equal(cmp.ok, true, cmp.reason);
  t.equal(cmp.evidence.verdict, 'pass');
  t.ok(cmp.evidence.suites.find((s: { suite: string }) => s.suite === 'micro').comparisons.length >= 2, 'per metric');
});

t.teardown(() => {
  if (process.env.TOOLS_TEST_DEBUG) console.error(stderr());
});

t.test('advance passes the protected-path gate: the run that failed its audit is approved and retried', async (t) => {
  const files = sampleAppFiles({ version: 'v5', latencyMs: 10 });
  const v5 = repo.commit('v5 touches a protected path', { ...files, 'stage.sh': `${files['stage.sh']}# reviewed change\n` });
  const dry = await call('start_upgrade', { ref: v5, dry_run: true });
  t.match(dry.evidence.gates, [{ gate: 'protected_paths_changed', stops: true, detail: /stage\.sh \(modified\)/ }]);
  t.equal((await call('start_upgrade', { ref: v5 })).ok, true);
  const stopped = await ended(v5);
  const run = stopped.evidence.tracks[0].run;
  t.equal(run.status, 'failed');
  t.match(run.reason, /protected paths changed.*stage\.sh/);
  const adv = await call('advance_upgrade_pipeline', { run: run.id, reason: 'stage.sh change reviewed' });
  t.equal(adv.ok, true, adv.reason);
  t.equal(adv.evidence.action, 'approved');
  const retry = adv.evidence.retry.id as string;
  const done = await until(() => call('check_upgrade_status'), (s) => s.evidence.tracks[0].run?.id === retry
    && s.evidence.tracks[0].run.status === 'completed', 120_000);
  t.equal(done.evidence.tracks[0].run.status, 'completed', 'the approved retry went through');
});
