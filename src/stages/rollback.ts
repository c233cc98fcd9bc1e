// A signed rollback: a new manifest with a higher seq that pins the last stable commit,
// sent to the given nodes (or all). History is never rewritten.
import type { Publication } from '../core/ports.js';
import { recordedCodeHash } from './build.js';
import type { StageContext } from './context.js';
import { reserveAndSign } from './release-manifest.js';

export interface RollbackResult {
  published: boolean;
  reason: string;
  seq?: number;
  to?: { version: string; commit: string };
  /** Whether the authority's node took it up now or already held it. */
  held?: Publication['held'];
}

export async function publishRollback(ctx: StageContext, targets: 'all' | string[], why: string): Promise<RollbackResult> {
  const stable = await ctx.store.lastStable(ctx.run.track, ctx.run.id);
  if (!stable) return { published: false, reason: `no earlier stable release on ${ctx.run.track} to roll back to` };
  const { record, envelope } = await reserveAndSign(ctx, {
    purpose: 'rollback', kind: 'rollback', version: stable.version, commit: stable.commit, codeHash: await recordedCodeHash(ctx, stable.id), targets,
    evidence: { run_id: ctx.run.id, test: null, benchmark: null, notes: [`rollback of ${ctx.run.version}: ${why}`] },
  });
  const { held } = await ctx.fleet.publish(envelope, ctx.run.track);
  return { published: true, reason: `published rollback ${ctx.run.track}#${record.seq} to ${stable.version}`, seq: record.seq, to: { version: stable.version, commit: stable.commit }, held };
}
