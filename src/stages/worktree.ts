import { stat } from 'node:fs/promises';
import { UpshiftError } from '../core/errors.js';
import type { StageContext } from './context.js';
import { commandEvidence } from './context.js';

/**
 * Stages after BUILD run in its work tree; if it is gone the run cannot vouch for what it
 * tests. On authority replicas the tree is on the machine of the leader that built it: a new
 * leader checks the commit out again, and goes on only when its code hash is the one BUILD
 * recorded and the build command passes again.
 */
export async function requireWorkTree(ctx: Pick<StageContext, 'workDir' | 'run'> & Partial<StageContext>): Promise<void> {
  const ok = await stat(ctx.workDir).then((s) => s.isDirectory(), () => false);
  if (ok) return;
  if (ctx.rebuildMissingWorkTree && isStageContext(ctx)) return rebuild(ctx);
  throw new UpshiftError('E_WORKTREE', `the work tree of run ${ctx.run.id} (${ctx.workDir}) is missing; start a new run`);
}

const isStageContext = (ctx: Partial<StageContext>): ctx is StageContext => typeof ctx.runCommand === 'function' && ctx.source !== undefined;

async function rebuild(ctx: StageContext): Promise<void> {
  const { run } = ctx;
  const recorded = (await ctx.store.runFacts(run.id)).codeHash;
  if (recorded === null) {
    throw new UpshiftError('E_WORKTREE', `the work tree of run ${run.id} is missing and no build was recorded; start a new run`);
  }
  await ctx.sandbox.ready();
  await ctx.sandbox.clear(ctx.workDir);
  await ctx.source.checkout(run.commit, ctx.workDir, ctx.signal);
  const code = await ctx.codeHash(ctx.workDir);
  if (code.hash !== recorded) {
    throw new UpshiftError('E_WORKTREE',
      `the work tree of run ${run.id} checked out again hashes ${code.hash.slice(0, 16)}…, not the recorded ${recorded.slice(0, 16)}…`);
  }
  await ctx.sandbox.handOver(ctx.workDir);
  const { problem } = commandEvidence(await ctx.runCommand(ctx.authority.build.command, ctx.authority.build.timeout));
  if (problem) throw new UpshiftError(problem.code, `rebuilding the work tree of run ${run.id} failed: ${problem.reason}`);
  ctx.log.info({ runId: run.id, stage: ctx.stage }, 'work tree rebuilt on this replica (built by another leader)');
}
