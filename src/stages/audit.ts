// AUDIT: configured commands; protected paths byte-identical to the last stable release
// unless the run is approved; a sign-then-verify self-test of the configured keys.
// Every check runs and every failure is reported, not only the first.
import { randomBytes } from 'node:crypto';
import { protectedPathChanges } from '../core/decisions/protected-paths.js';
import { signVerifySelfTest } from '../trust/selftest.js';
import type { StageContext, StageReport } from './context.js';
import { commandEvidence } from './context.js';
import { requireWorkTree } from './worktree.js';

export async function audit(ctx: StageContext): Promise<StageReport> {
  const cfg = ctx.authority.audit;
  await requireWorkTree(ctx);
  const problems: string[] = [];

  const commands: Record<string, unknown>[] = [];
  for (const command of cfg.commands) {
    const { evidence, problem } = commandEvidence(await ctx.runCommand(command, cfg.timeout));
    commands.push(evidence);
    if (problem) problems.push(problem.reason);
  }

  const protectedPaths = await checkProtectedPaths(ctx, cfg.protected_paths);
  if (protectedPaths.problem) problems.push(protectedPaths.problem);

  let selftest: { ok: boolean; reason: string; keyids: string[] };
  try {
    selftest = signVerifySelfTest(await ctx.loadSigners(), ctx.keyset, randomBytes);
  } catch (err) {
    selftest = { ok: false, reason: `signing keys unusable: ${(err as Error).message}`, keyids: [] };
  }
  if (!selftest.ok) problems.push(`sign/verify self-test failed: ${selftest.reason}`);

  const evidence = { commands, protected_paths: protectedPaths.evidence, selftest };
  if (problems.length > 0) return { outcome: 'failed', reason: `audit failed: ${problems.join('; ')}`, code: 'E_GATE', evidence };
  const notes = [`${cfg.commands.length} audit command(s) passed`, protectedPaths.summary, `self-test signed and verified with ${selftest.keyids.length} key(s)`];
  return { outcome: 'passed', reason: notes.join('; '), evidence };
}

async function checkProtectedPaths(ctx: StageContext, globs: string[]): Promise<{ problem: string | null; summary: string; evidence: Record<string, unknown> }> {
  if (globs.length === 0) return { problem: null, summary: 'no protected paths configured', evidence: { globs } };
  const stable = await ctx.store.lastStable(ctx.run.track, ctx.run.id);
  if (!stable) {
    return { problem: null, summary: 'no stable release yet, so protected paths have no baseline', evidence: { globs, baseline: null } };
  }
  const [before, after] = await Promise.all([ctx.source.tree(stable.commit), ctx.source.tree(ctx.run.commit)]);
  const changed = protectedPathChanges(globs, before, after);
  const approval = await ctx.store.approvals.get(ctx.run.id);
  const evidence = { globs, baseline: { version: stable.version, commit: stable.commit }, changed, approval };
  if (changed.length === 0) return { problem: null, summary: `protected paths unchanged since ${stable.version}`, evidence };
  const list = changed.map((c) => `${c.path} (${c.change})`).join(', ');
  if (approval) return { problem: null, summary: `protected paths changed since ${stable.version} (${list}), approved by ${approval.by}: ${approval.reason}`, evidence };
  return {
    problem: `protected paths changed since ${stable.version}: ${list}; approve with \`upshift pipeline approve ${ctx.run.id}\``,
    summary: '',
    evidence,
  };
}
