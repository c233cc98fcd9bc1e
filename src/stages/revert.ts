// Reverting a run stopped during canary or deploy: if its release may have reached
// nodes, sign a rollback manifest (higher seq, the last stable commit) and publish it.
// History is never rewritten; the rollback is a new manifest.
import { fromPromise } from 'xstate';
import type { RevertInput } from '../core/machine.js';
import type { StageOutcome } from '../core/run.js';
import { recordedCodeHash } from './build.js';
import { stageContext, type PipelineDeps } from './context.js';
import { reserveAndSign } from './release-manifest.js';

export function revertActor(deps: PipelineDeps) {
  return fromPromise<StageOutcome, RevertInput>(async ({ input, signal }) => {
    const run = deps.store.requireRun(input.runId);
    const log = deps.log.child({ runId: run.id, stage: 'revert' });
    const ctx = stageContext(deps, run, 'revert', 1, signal, log);
    const release = deps.store.manifests.forRun(run.id, 'release');
    const record = (outcome: StageOutcome, data: Record<string, unknown>) => {
      deps.store.appendEvent({ at: deps.clock.now(), runId: run.id, stage: 'revert', kind: 'run.revert', actor: 'pipeline', data: { ...outcome, ...data } });
      log.warn({ ...outcome }, 'revert finished');
      return outcome;
    };
    if (!release?.envelope) return record({ outcome: 'passed', reason: 'nothing was signed for the fleet; nothing to revert' }, {});
    const stable = deps.store.lastStable(run.track, run.id);
    if (!stable) {
      return record({ outcome: 'failed', reason: `no earlier stable release on ${run.track} to roll back to; nodes that took ${run.track}#${release.seq} keep it` }, { seq: release.seq });
    }
    const { record: rollback, envelope } = await reserveAndSign(ctx, {
      purpose: 'rollback', kind: 'rollback', version: stable.version, commit: stable.commit, codeHash: recordedCodeHash(ctx, stable.id), targets: 'all',
      evidence: { run_id: run.id, test: null, benchmark: null, notes: [`rollback of ${run.version}: ${input.reason}`] },
    });
    const deliveries = await deps.fleet.publish(envelope, run.track);
    return record({ outcome: 'passed', reason: `published rollback ${run.track}#${rollback.seq} to ${stable.version}` }, { seq: rollback.seq, deliveries });
  });
}
