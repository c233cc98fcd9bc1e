// `pipeline run|start|advance` on PostgreSQL replicas: the leader drives every run, so a
// start is queued for it (authority.ts queueForLeader) and `run` then follows the run by
// reading the store, as `status` does; `advance` (driving here) is refused. Null on SQLite:
// the command runs in this process as ever.
import { UpshiftError } from '../../core/errors.js';
import { TERMINAL, type Run } from '../../core/run.js';
import { postgresStore } from '../../runtime/pg-target.js';
import { exitCodeOfRun, runSummary } from '../render.js';
import { printJson, say, type Session } from '../shared.js';
import { queueForLeader, sayQueued } from './authority.js';

export function refuseAdvance(session: Session): void {
  if (!postgresStore(session.config().config)) return;
  throw new UpshiftError('E_NOT_LEADER', 'on authority replicas the leader drives every run, not this CLI: '
    + '`upshift pipeline start` queues a run for it and `upshift authority status` names it');
}

/**
 * Queue a start for the leader; with `follow`, wait for the run to end (reads only) until the
 * signal it gives aborts (asked for only then: Ctrl-C while queueing ends the CLI). Null on SQLite.
 */
export async function startOnLeader(session: Session, o: { ref: string; track?: string; json?: boolean },
  follow: (() => AbortSignal) | null): Promise<0 | 1 | 2 | 3 | null> {
  const config = session.config().config;
  const queued = await queueForLeader(config, 'start', o.ref, follow ? 'pipeline run' : 'pipeline start',
    { args: o.track ? { track: o.track } : {} });
  if (!queued) return null;
  const runId = queued.command.result?.run;
  if (!follow || typeof runId !== 'string') {
    sayQueued(queued, o.json);
    return 0;
  }
  if (!o.json) say(queued.answer);
  const signal = follow();
  const store = session.store();
  let seen = '';
  let run: Run | null = null;
  // the leader persists every transition: following it is reading, as `pipeline show` does
  while (!signal.aborted) {
    run = await store.getRun(runId);
    if (run && TERMINAL.has(run.status)) break;
    const at = run ? `${run.status} at ${run.stage}` : 'not visible yet';
    if (!o.json && at !== seen) say(`  ${at}`);
    seen = at;
    await new Promise((r) => setTimeout(r, 500));
  }
  const stages = run ? await store.stageResults(runId) : [];
  if (!run || !TERMINAL.has(run.status)) {
    if (o.json) printJson({ ok: false, run, stages, interrupted: true, command: queued.command.id });
    else say(`stopped following run ${runId}; the leader keeps driving it (\`upshift pipeline show ${runId}\`)`);
    return 1;
  }
  if (o.json) printJson({ ok: run.status === 'completed', run, stages, command: queued.command.id, done_by: queued.command.doneBy });
  else say(runSummary(run, stages));
  return exitCodeOfRun(run);
}
