// The agent tools from a shell: `upshift tools --json` in the function-calling format,
// `upshift tool <name> --args JSON` with its exit codes, and `upshift bench` for people,
// all over the same tool functions (and the same audit trail).
import t from 'tap';
import { sampleAppFiles } from '../../scripts/demo/sample-app.js';
import { createWorkspace } from '../../scripts/demo/workspace.js';
import { openStore } from '../../src/runtime/deps.js';
import { diag, runCli } from '../helpers/cli.js';
import { gitRepo } from '../helpers/gitdir.js';
import { tempDir } from '../helpers/tmp.js';
import { stateCounts } from './helpers.js';

const repo = gitRepo(t);
const v1 = repo.commit('v1', sampleAppFiles({ version: 'v1', latencyMs: 10 }));
const ws = await createWorkspace(tempDir(t, 'upshift-tools-cli-'), { source: repo.dir });
const cli = (...args: string[]) => runCli(['--config', ws.configPath, ...args], { timeoutMs: 240_000 });

t.test('upshift tools --json prints the ten schemas in the function-calling format', async (t) => {
  const r = await cli('tools', '--json');
  t.equal(r.code, 0, diag(r));
  const fns = r.json<Array<{ type: string; function: { name: string; description: string; parameters: { type: string; properties: Record<string, { description?: string }> } }; annotations: Record<string, unknown> }>>();
  t.equal(fns.length, 10);
  for (const f of fns) {
    t.equal(f.type, 'function');
    t.equal(f.function.parameters.type, 'object', `${f.function.name} takes an object`);
    for (const [k, p] of Object.entries(f.function.parameters.properties ?? {})) t.ok(p.description, `${f.function.name}.${k} described`);
    t.equal(typeof f.annotations.destructiveHint, 'boolean');
  }
  const start = fns.find((f) => f.function.name === 'start_upgrade');
  t.same(Object.keys(start?.function.parameters.properties ?? {}).sort(), ['dry_run', 'ref', 'track']);
  const human = await cli('tools');
  t.match(human.stdout, /rollback_upgrade\s+mutating, destructive/);
});

t.test('upshift tool answers JSON; a refusal exits with its code\'s exit code and changes nothing', async (t) => {
  const dry = await cli('tool', 'start_upgrade', '--args', '{"dry_run": true}');
  t.equal(dry.code, 0, diag(dry));
  t.equal(dry.json<{ evidence: { candidate: { commit: string } } }>().evidence.candidate.commit, v1);
  const before = stateCounts(ws.stateDir);
  const bad = await cli('tool', 'start_upgrade', '--args', '{"dry_run": 1}');
  t.equal(bad.code, 2, 'schema failure: a usage error');
  t.match(bad.json(), { ok: false, error: { code: 'E_USAGE' } });
  const unknown = await cli('tool', 'launch_rockets');
  t.equal(unknown.code, 2);
  t.match(unknown.json(), { ok: false, error: { code: 'E_UNKNOWN_TOOL' } });
  const notJson = await cli('tool', 'check_upgrade_status', '--args', '{nope');
  t.equal(notJson.code, 2);
  t.match(notJson.stderr, /E_USAGE/);
  const nothing = await cli('tool', 'advance_upgrade_pipeline');
  t.equal(nothing.code, 2, diag(nothing));
  t.match(nothing.json(), { ok: false, error: { code: 'E_RUN_NOT_FOUND' }, reason: /nothing waiting/ });
  t.same(stateCounts(ws.stateDir), before, 'nothing but the audit trail changed');
});

t.test('a run started from the shell is left to the daemon: the one-shot door never blocks', async (t) => {
  const started = await cli('tool', 'start_upgrade');
  t.equal(started.code, 0, diag(started));
  const answer = started.json<{ evidence: { run: { id: string; status: string }; driving: boolean } }>();
  t.equal(answer.evidence.driving, false);
  const adv = await cli('tool', 'advance_upgrade_pipeline', '--args', JSON.stringify({ run: answer.evidence.run.id }));
  t.equal(adv.code, 0, diag(adv));
  t.match(adv.json(), { ok: true, evidence: { action: 'waiting', waiting: { what: /driver/ } } });
  const rolled = await cli('tool', 'rollback_upgrade', '--args', '{"reason": "not today"}');
  t.equal(rolled.code, 0, diag(rolled));
  t.match(rolled.json(), { evidence: { run: { status: 'rolled_back' } } });
  const store = openStore(ws.stateDir);
  try {
    const audit = await store.eventsOfKind(['tool.call'], 100);
    t.ok(audit.every((e) => e.actor.startsWith('cli:')), 'the shell caller is named');
    t.same(audit.map((e) => e.data.tool).slice(0, 3), ['rollback_upgrade', 'advance_upgrade_pipeline', 'start_upgrade']);
  } finally {
    store.close();
  }
});

t.test('upshift bench: capture, ls, history and compare for people', async (t) => {
  const v2 = repo.commit('v2', sampleAppFiles({ version: 'v2', latencyMs: 30 }));
  const cap1 = await cli('bench', 'capture', v1, '--tier', 'all');
  t.equal(cap1.code, 0, diag(cap1));
  t.match(cap1.stdout, /captured 1 suite\(s\).*latency_ms=10ms/);
  const cap2 = await cli('bench', 'capture', v2, '--json');
  t.equal(cap2.code, 0, diag(cap2));
  const ls = await cli('bench', 'ls');
  t.match(ls.stdout, /micro\s+fast\s+config\s+sh bench\.sh/);
  const hist = await cli('bench', 'history', '--json');
  t.equal(hist.json<{ evidence: { snapshots: unknown[] } }>().evidence.snapshots.length, 2);
  const cmp = await cli('bench', 'compare', v1, v2);
  t.equal(cmp.code, 0, diag(cmp));
  t.match(cmp.stdout, /regressed/);
  t.match(cmp.stdout, /micro\.latency_ms: 10 → 30 \(200\.0%\)\s+WORSE/);
  const missing = await cli('bench', 'compare', v1, 'deadbeefdead');
  t.equal(missing.code, 2);
  t.match(missing.stderr, /E_USAGE: no benchmark snapshot of version deadbeefdead/);
});
