// `upshift bench capture|compare|history|register|ls`: the benchmark tools for people. Each
// subcommand calls the same tool an agent calls (audited the same way) and renders it.
import type { Command } from 'commander';
import { CODES } from '../../core/errors.js';
import { callTool, type ToolAnswer } from '../../tools/index.js';
import { action, printJson, say, type Session } from '../shared.js';
import { parseIntArg } from '../io.js';
import { sessionToolEnv } from '../tool-env.js';

interface Compared {
  suites: Array<{
    suite: string;
    comparisons: Array<{ metric: string; baseline: number | null; value: number | null; change: number | null; worse: boolean }>;
  }>;
}
interface History {
  snapshots: Array<{ at: string; suite: string; version: string; source: string; metrics: Record<string, { value: number }> }>;
}
interface Listed {
  suites: Array<{ name: string; tier: string; source: string; command: string; repo_url: string | null; commit: string | null }>;
}

const pct = (c: number | null) => (c === null ? '' : ` (${(c * 100).toFixed(1)}%)`);

const compared = (e: Compared) => e.suites.flatMap((s) => s.comparisons.map((c) =>
  `  ${s.suite}.${c.metric}: ${c.baseline ?? '-'} → ${c.value ?? '-'}${pct(c.change)}${c.worse ? '  WORSE' : ''}`));

const history = (e: History) => e.snapshots.map((s) => {
  const metrics = Object.entries(s.metrics).map(([k, m]) => `${k}=${m.value}`).join(' ');
  return `  ${s.at.slice(0, 19).replace('T', ' ')}  ${s.suite.padEnd(12)} ${s.version.slice(0, 14).padEnd(14)} ${s.source.padEnd(7)} ${metrics}`;
});

const listed = (e: Listed) => e.suites.map((s) => {
  const repo = s.repo_url ? `  (${s.repo_url} @ ${s.commit?.slice(0, 12)})` : '';
  return `  ${s.name.padEnd(14)} ${s.tier.padEnd(6)} ${s.source.padEnd(10)} ${s.command}${repo}`;
});

export function registerBench(program: Command, session: Session): void {
  const bench = program.command('bench').description('benchmark suites: capture, compare, history, register, ls');
  const call = async <E>(tool: string, args: Record<string, unknown>, json: boolean | undefined, render: (e: E) => string[]) => {
    const answer: ToolAnswer = await callTool(sessionToolEnv(session, { door: 'cli', drive: false }), tool, args);
    if (json) printJson(answer);
    else if (!answer.ok) process.stderr.write(`upshift: ${answer.error.code}: ${answer.reason}\n`);
    else for (const line of [answer.reason, ...render(answer.evidence as E)]) say(line);
    return answer.ok ? 0 : CODES[answer.error.code].exit;
  };
  const none = () => [];

  bench.command('capture').description("build a version's work tree and run the suites of a tier on it")
    .argument('<version>', 'tag, branch or commit').option('--tier <tier>', 'fast, heavy or all', 'fast').option('--json', 'print JSON')
    .action(action(session, async (version: string, o: { tier: string; json?: boolean }) =>
      call('capture_benchmark', { version, tier: o.tier }, o.json, none)));

  bench.command('compare').description('compare two versions: per metric medians, change, tolerance, verdict')
    .argument('<old>', 'baseline version').argument('<new>', 'version judged').option('--suite <name>').option('--json', 'print JSON')
    .action(action(session, async (old: string, next: string, o: { suite?: string; json?: boolean }) =>
      call('compare_benchmarks', { old, new: next, ...(o.suite ? { suite: o.suite } : {}) }, o.json, compared)));

  bench.command('history').description('benchmark snapshots of runs and captures, newest first')
    .option('--suite <name>').option('--metric <name>').option('--limit <n>', 'how many', '20').option('--json', 'print JSON')
    .action(action(session, async (o: { suite?: string; metric?: string; limit: string; json?: boolean }) => {
      const args = { limit: parseIntArg(o.limit, '--limit', 1), ...(o.suite ? { suite: o.suite } : {}), ...(o.metric ? { metric: o.metric } : {}) };
      return call('get_benchmark_history', args, o.json, history);
    }));

  bench.command('register').description("register a benchmark repository to run in BENCHMARK beside the project's suites")
    .argument('<repo>', 'git URL or path').requiredOption('--name <name>', 'suite name').option('--command <cmd>', 'what to run in its checkout')
    .option('--tier <tier>', 'fast or heavy', 'heavy').option('--ref <ref>', 'branch, tag or commit to pin').option('--json', 'print JSON')
    .action(action(session, async (repo: string, o: { name: string; command?: string; tier: string; ref?: string; json?: boolean }) => {
      const args = { repo_url: repo, name: o.name, tier: o.tier, ...(o.command ? { command: o.command } : {}), ...(o.ref ? { ref: o.ref } : {}) };
      return call('register_benchmark', args, o.json, none);
    }));

  bench.command('ls').description("every suite: the project's own and the registered repositories").option('--json', 'print JSON')
    .action(action(session, async (o: { json?: boolean }) => call('list_benchmarks', {}, o.json, listed)));
}
