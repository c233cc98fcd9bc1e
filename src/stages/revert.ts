// Reverting a run stopped during canary or deploy: if its release may have reached nodes,
// publish a signed rollback to the last stable commit. History is never rewritten.
import { fromPromise } from 'xstate';
import type { RevertInput } from '../core/machine.js';
import type { StageOutcome } from '../core/run.js';
import type { PersistedWrites } from '../core/write-chain.js';
import { awaitPersisted, stageContext, type PipelineDeps } from './context.js';
import { publishRollback } from './rollback.js';

export function revertActor(deps: PipelineDeps, writes: PersistedWrites) {
  return fromPromise<StageOutcome, RevertInput>(async ({ input, signal }) => {
    await awaitPersisted(deps, writes, input.runId, 'reverting', 'revert', signal);
    const run = await deps.store.requireRun(input.runId);
    const log = deps.log.child({ runId: run.id, stage: 'revert' });
    const ctx = stageContext(deps, run, 'revert', 1, signal, log);
    const manifests = await Promise.all((['canary', 'deploy', 'release'] as const).map((p) => deps.store.manifests.forRun(run.id, p)));
    const sent = manifests.some((m) => m?.envelope);
    const result = sent ? await publishRollback(ctx, 'all', input.reason) : { published: false, reason: 'nothing was signed for the fleet; nothing to revert' };
    const outcome: StageOutcome = { outcome: result.published || !sent ? 'passed' : 'failed', reason: result.reason };
    await deps.store.appendEvent({ at: deps.clock.now(), runId: run.id, stage: 'revert', kind: 'run.revert', actor: 'pipeline', data: { ...outcome, ...result } });
    log.warn({ ...outcome }, 'revert finished');
    return outcome;
  });
}
