import { stat } from 'node:fs/promises';
import { UpshiftError } from '../core/errors.js';
import type { StageContext } from './context.js';

/** Stages after BUILD run in its work tree; if it is gone the run cannot vouch for what it tests. */
export async function requireWorkTree(ctx: Pick<StageContext, 'workDir' | 'run'>): Promise<void> {
  const ok = await stat(ctx.workDir).then((s) => s.isDirectory(), () => false);
  if (!ok) throw new UpshiftError('E_WORKTREE', `the work tree of run ${ctx.run.id} (${ctx.workDir}) is missing; start a new run`);
}
