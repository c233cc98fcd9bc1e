// This node's own apply marks: versions it marked bad after a failed apply (SPEC: never
// retried automatically), and clearing one once the cause is fixed, with a reason.
import { UpshiftError } from '../core/errors.js';
import type { BadVersion } from '../core/records.js';
import { auditReason, type Outcome, type ServiceContext } from './context.js';

export async function badMarks(ctx: ServiceContext): Promise<Outcome<{ bad: BadVersion[] }>> {
  const bad = await ctx.store.journal.badVersions();
  return { reason: bad.length ? `${bad.length} version(s) marked bad on this node` : 'no version is marked bad on this node', evidence: { bad } };
}

/** Clear a bad mark (version name or full commit id); recorded as an `apply.unmarked` event. */
export async function unmarkBad(
  ctx: ServiceContext,
  input: { version: string; track?: string; reason: string },
): Promise<Outcome<{ track: string; cleared: BadVersion[] }>> {
  const tracks = ctx.config.node.tracks;
  const track = input.track ?? (tracks.length === 1 ? tracks[0] : undefined);
  if (!track) throw new UpshiftError('E_USAGE', `this node follows ${tracks.join(', ')}: say which with --track`);
  const reason = auditReason(input.reason);
  const { store } = ctx;
  const cleared = await store.journal.clearBad(track, input.version, { at: ctx.clock.now(), actor: ctx.actor, reason });
  if (cleared.length === 0) throw new UpshiftError('E_USAGE', `${input.version} is not marked bad on track ${track}; see \`upshift node bad\``);
  return {
    reason: `cleared ${cleared.length} mark(s) of ${input.version} on ${track}: a manifest for it is applied again when one arrives (at the daemon's next start if it is still the newest held)`,
    evidence: { track, cleared },
  };
}
