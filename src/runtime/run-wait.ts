// What an unfinished run is waiting for, and until when: the canary soak, the deploy's
// progress deadline, or just its next stage. Read from the deadlines the stages stored.
import type { Run } from '../core/run.js';
import type { StateStore } from '../core/ports.js';
import { promotionState } from '../stages/canary-promotion.js';

export interface Waiting {
  state: string;
  /** A sentence: what has to happen for the run to move on. */
  what: string;
  /** ISO time the wait ends at the latest, when the stage stored one. */
  until: string | null;
}

/** `soakMs`: authority.canary.soak, how long each canary soaks once it confirmed. */
export async function waitingFor(store: StateStore, run: Run, soakMs: number): Promise<Waiting | null> {
  if (run.status !== 'running' && run.status !== 'pending') return null;
  if (run.stage === 'canary') {
    const plan = await store.plans.canaryPlan(run.id);
    if (!plan) return { state: run.stage, what: 'choosing canaries', until: null };
    const confirmed = await store.plans.canaryConfirms(run.id);
    const waitingOn = plan.canaries.filter((n) => confirmed[n] === undefined);
    if (waitingOn.length > 0) {
      const until = new Date(plan.confirmBy).toISOString();
      return { state: run.stage, what: `${waitingOn.join(', ')} to confirm the canary release, at the latest by ${until}`, until };
    }
    if (await promotionState(store, run.id) === 'awaiting') {
      return { state: run.stage, what: `promotion of canaries ${plan.canaries.join(', ')} (canary.promotion: manual): \`upshift tool advance_upgrade_pipeline\``, until: null };
    }
    const ends = Math.max(...plan.canaries.map((n) => (confirmed[n] as number) + soakMs));
    const until = new Date(ends).toISOString();
    return { state: run.stage, what: `canary soak on ${plan.canaries.join(', ')} until ${until}`, until };
  }
  if (run.stage === 'deploying') {
    // a deployment (issue 12): its status says what it waits for (a wave, promote, a resume)
    const d = await store.deployments.forRun(run.id);
    if (d) {
      const until = d.status === 'running' ? new Date(d.state.lastProgress + d.policy.progress_deadline).toISOString() : null;
      const what = `deployment ${d.key}#${d.number} ${d.status === 'waiting_promote' ? 'waiting for promote' : d.status}${d.reason ? `: ${d.reason}` : ''}`;
      return { state: run.stage, what, until };
    }
    const deadline = await store.plans.deadline(run.id, 'deploy.progress');
    if (deadline === null) return { state: run.stage, what: 'publishing to the fleet', until: null };
    const until = new Date(deadline).toISOString();
    return { state: run.stage, what: `every live node to confirm, at the latest by ${until}`, until };
  }
  if (run.stage === 'idle') return { state: run.stage, what: 'a driver (the daemon, or `upshift pipeline advance`)', until: null };
  return { state: run.stage, what: `${run.stage} to finish`, until: null };
}
