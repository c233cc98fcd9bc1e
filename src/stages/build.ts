// BUILD: a fresh isolated work tree of the exact commit, its code hash, then the build command.
import { UpshiftError } from '../core/errors.js';
import type { StageContext, StageReport } from './context.js';
import { commandEvidence } from './context.js';

export async function build(ctx: StageContext): Promise<StageReport> {
  const { run, authority } = ctx;
  // Before anything is written: refuses when the build could reach a key or the state.
  await ctx.sandbox.ready();
  // A crashed attempt's tree may have been the build's: emptied with the build's rights first.
  await ctx.sandbox.clear(ctx.workDir);
  await ctx.source.checkout(run.commit, ctx.workDir, ctx.signal);
  ctx.failpoint('build:checked-out');
  // Hash the pristine checkout, before the build adds anything: nodes attest the same tree.
  const code = await ctx.codeHash(ctx.workDir);
  await ctx.sandbox.handOver(ctx.workDir);
  const result = await ctx.runCommand(authority.build.command, authority.build.timeout);
  const { evidence, problem } = commandEvidence(result);
  const all = { commit: run.commit, work_tree: ctx.workDir, code_hash: code.hash, files: code.files, bytes: code.bytes, ...evidence };
  if (problem) return { outcome: 'failed', reason: `build failed: ${problem.reason}`, code: problem.code, evidence: all };
  return {
    outcome: 'passed',
    reason: `built ${run.commit.slice(0, 12)} in ${(result.durationMs / 1000).toFixed(1)}s; code hash ${code.hash.slice(0, 16)}… over ${code.files} files`,
    evidence: all,
    facts: { codeHash: code.hash },
  };
}

/** The code hash BUILD recorded for a run; later stages and SIGN rely on it. */
export async function recordedCodeHash(ctx: Pick<StageContext, 'store'>, runId: string): Promise<string> {
  const hash = (await ctx.store.runFacts(runId)).codeHash;
  if (hash === null) throw new UpshiftError('E_STATE_CORRUPT', `run ${runId} has no code hash recorded by a passed build`);
  return hash;
}
