// What an unfinished run is waiting for, and until when: the canary soak, the deploy's
// progress deadline, or just its next stage. Read from the deadlines the stages stored.
import type { Run } from '../core/run.js';
import type { Store } from '../adapters/sqlite/store.js';

export interface Waiting {
  state: string;
  /** A sentence: what has to happen for the run to move on. */
  what: string;
  /** ISO time the wait ends at the latest, when the stage stored one. */
  until: string | null;
}

export function waitingFor(store: Store, run: Run): Waiting | null {
  if (run.status !== 'running' && run.status !== 'pending') return null;
  if (run.stage === 'canary') {
    const plan = parse<{ canaries?: string[]; deadline?: number } | null>(store.kv.get(`run:${run.id}:canary`));
    if (!plan?.deadline) return { state: run.stage, what: 'choosing canaries', until: null };
    const until = new Date(plan.deadline).toISOString();
    return { state: run.stage, what: `canary soak on ${plan.canaries?.join(', ') ?? '?'} until ${until}`, until };
  }
  if (run.stage === 'deploying') {
    const deadline = Number(store.kv.get(`run:${run.id}:deploy:deadline`) ?? NaN);
    if (!Number.isFinite(deadline)) return { state: run.stage, what: 'publishing to the fleet', until: null };
    const until = new Date(deadline).toISOString();
    return { state: run.stage, what: `every live node to confirm, at the latest by ${until}`, until };
  }
  if (run.stage === 'idle') return { state: run.stage, what: 'a driver (the daemon, or `upshift pipeline advance`)', until: null };
  return { state: run.stage, what: `${run.stage} to finish`, until: null };
}

function parse<T>(text: string | null): T | null {
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}
