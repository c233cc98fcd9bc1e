// TEST: run the suite, parse what it reported (TAP, JUnit XML or a summary line), gate on
// the pass rate. A suite that reports nothing fails with that reason, never as 0/0.
import { join, relative, resolve, sep } from 'node:path';
import { decidePassRate } from '../core/decisions/pass-rate.js';
import type { StageContext, StageReport } from './context.js';
import { commandEvidence } from './context.js';
import { requireWorkTree } from './worktree.js';

export async function test(ctx: StageContext): Promise<StageReport> {
  const cfg = ctx.authority.test;
  await requireWorkTree(ctx);
  const result = await ctx.runCommand(cfg.command, cfg.timeout);
  const { evidence, problem } = commandEvidence(result);
  if (problem?.code === 'E_TIMEOUT' || problem?.code === 'E_CANCELLED') {
    return { outcome: 'failed', reason: `test suite ${problem.reason}`, code: problem.code, evidence };
  }
  const text = cfg.report ? await readReport(ctx, cfg.report) : result.stdout;
  // the parsers (tap-parser with its YAML, fast-xml-parser) load when a report is read, not
  // with every process that can drive a run: the authority daemon, `pipeline` commands
  const report = text === null ? null : (await import('../core/test-report.js')).parseTestReport(text, cfg.format);
  const decision = decidePassRate(report, cfg.min_pass_rate);
  const all = {
    ...evidence,
    report: report && { format: report.format, passed: report.passed, failed: report.failed, skipped: report.skipped, total: report.total },
    pass_rate: decision.rate,
    min_pass_rate: cfg.min_pass_rate,
    failing_tests: report?.failures ?? [],
    report_source: cfg.report ?? 'stdout',
  };
  if (!decision.pass) {
    const exit = report === null && problem ? ` (${problem.reason})` : '';
    return { outcome: 'failed', reason: `${decision.reason}${exit}`, code: 'E_GATE', evidence: all };
  }
  const fact = report && decision.rate !== null
    ? { passed: report.passed, failed: report.failed, skipped: report.skipped, passRate: decision.rate }
    : null;
  return { outcome: 'passed', reason: decision.reason, evidence: all, facts: { test: fact } };
}

/**
 * A report file inside the work tree; a path that escapes it is refused. The tree is the
 * build's, so the file is read with the build user's rights: a symlink to a key reads nothing.
 */
async function readReport(ctx: StageContext, path: string): Promise<string | null> {
  const { workDir } = ctx;
  const full = resolve(workDir, path);
  const rel = relative(workDir, full);
  if (rel.startsWith('..') || rel.startsWith(sep) || rel === '') return null;
  return ctx.sandbox.readFile(join(workDir, rel));
}
