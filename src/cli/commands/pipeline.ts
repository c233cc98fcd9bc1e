// `upshift pipeline run|start|advance|approve|rollback|status|history|show`: parse, call
// the pipeline services, render.
import type { Command } from 'commander';
import { TERMINAL } from '../../core/run.js';
import { pipelineDeps } from '../../runtime/deps.js';
import { PipelineService } from '../../runtime/pipeline-service.js';
import {
  advanceRun, approveRun, driveRun, pipelineStatus, rollbackRun, runHistory, showRun, startRun, type RunDetail,
} from '../../services/pipeline.js';
import { exitCodeOfRun, progressPrinter, runLine, runShow, runSummary } from '../render.js';
import { action, printJson, say, type Session } from '../shared.js';
import { queueForLeader, sayQueued } from './authority.js';
import { refuseAdvance, startOnLeader } from './pipeline-leader.js';
import { storedHeldView } from '../../runtime/published-view.js';

export function registerPipeline(program: Command, session: Session): void {
  const pipeline = program.command('pipeline').description('run versions through build, test, audit, benchmark, sign, canary, deploy');

  const service = (logLevel?: string) => {
    const ctx = session.context(logLevel);
    const deps = pipelineDeps(ctx.config, ctx.store, ctx.log);
    // no seq at or below one this authority's node holds unless the store has it (seq-guard.ts)
    deps.published = storedHeldView(ctx.store);
    return { svc: new PipelineService(deps), actor: ctx.actor };
  };

  pipeline.command('run').description('run one version through the whole pipeline in the foreground')
    .requiredOption('--ref <ref>', 'branch, tag or commit').option('--track <track>', 'track (default: from the ref)').option('--json', 'print JSON')
    .action(action(session, async (opts: { ref: string; track?: string; json?: boolean }) => {
      // replicas on PostgreSQL: the leader runs it; this follows it to its end
      const led = await startOnLeader(session, opts, shutdownSignal);
      if (led !== null) return led;
      const { svc } = service(process.stderr.isTTY ? 'warn' : 'info');
      const started = await startRun(svc, { ref: opts.ref, ...(opts.track ? { track: opts.track } : {}) });
      const { run, created } = started.evidence;
      if (!created && TERMINAL.has(run.status)) {
        // a version runs once: say so, and how it ended
        if (opts.json) printJson({ ok: run.status === 'completed', already_ran: true, reason: started.reason, run, stages: await svc.deps.store.stageResults(run.id) });
        else say(`${started.reason}\n${runSummary(run, await svc.deps.store.stageResults(run.id))}`);
        return exitCodeOfRun(run);
      }
      const tty = !opts.json && process.stdout.isTTY;
      if (!opts.json) say(`${created ? 'started' : 'resuming'} run ${run.id}: ${run.track} ${run.version}`);
      const onState = tty ? progressPrinter(process.stdout, async (id) => await svc.deps.store.stageResults(id)) : undefined;
      const done = await driveRun(svc, { runId: run.id, until: 'terminal', signal: shutdownSignal(), ...(onState ? { onState } : {}) });
      return finish(done.evidence, opts.json);
    }));

  pipeline.command('start').description('create a run for a ref; the daemon (or `pipeline advance`) drives it')
    .requiredOption('--ref <ref>', 'branch, tag or commit').option('--track <track>', 'track').option('--json', 'print JSON')
    .action(action(session, async (opts: { ref: string; track?: string; json?: boolean }) => {
      if (await startOnLeader(session, opts, null) !== null) return;
      const { svc } = service();
      const started = await startRun(svc, { ref: opts.ref, ...(opts.track ? { track: opts.track } : {}) });
      const { run, created } = started.evidence;
      if (opts.json) printJson({ ok: true, created, reason: started.reason, run });
      else say(created ? `created ${runLine(run)}` : started.reason);
    }));

  pipeline.command('advance').description('drive a run through its next stage (default: the oldest unfinished run)')
    .argument('[run]', 'run id').option('--json', 'print JSON')
    .action(action(session, async (runId: string | undefined, opts: { json?: boolean }) => {
      refuseAdvance(session);
      const { svc } = service();
      const r = await advanceRun(svc, { wait: 'stage', signal: shutdownSignal(), ...(runId ? { runId } : {}) });
      if (opts.json) printJson({ ok: true, reason: r.reason, ...r.evidence });
      else if (r.evidence.driver) say(r.reason);
      else say(runSummary(r.evidence.run, r.evidence.stages));
    }));

  pipeline.command('approve').description('approve protected-path changes of a run (a run that failed its audit is retried)')
    .argument('<run>', 'run id').option('--reason <text>', 'why', 'approved by operator').option('--json', 'print JSON')
    .action(action(session, async (runId: string, opts: { reason: string; json?: boolean }) => {
      // replicas on PostgreSQL: the leader carries it out, whichever replica or CLI accepted it
      const queued = await queueForLeader(session.config().config, 'approve', runId, opts.reason);
      if (queued) return sayQueued(queued, opts.json);
      const { svc, actor } = service();
      const r = await approveRun(svc, { runId, reason: opts.reason, by: actor });
      if (opts.json) printJson({ ok: true, reason: r.reason, ...r.evidence });
      else say(r.reason);
    }));

  pipeline.command('rollback').description('stop a run; if its release reached nodes, publish a signed rollback')
    .argument('<run>', 'run id').requiredOption('--reason <text>', 'why').option('--json', 'print JSON')
    .action(action(session, async (runId: string, opts: { reason: string; json?: boolean }) => {
      const queued = await queueForLeader(session.config().config, 'rollback', runId, opts.reason);
      if (queued) return sayQueued(queued, opts.json);
      const { svc, actor } = service();
      const r = await rollbackRun(svc, { runId, reason: opts.reason, by: actor });
      if (opts.json) printJson({ ok: true, reason: r.reason, run: r.evidence.run, queued: r.evidence.queued });
      else say(r.evidence.queued ? r.reason : runSummary(r.evidence.run, r.evidence.stages));
    }));

  pipeline.command('status').description('unfinished runs and the latest run of each track').option('--json', 'print JSON')
    .action(action(session, async (opts: { json?: boolean }) => {
      const { unfinished, latest } = (await pipelineStatus(session.store())).evidence;
      if (opts.json) return printJson({ ok: true, unfinished, latest });
      say(unfinished.length ? `unfinished:\n${unfinished.map(runLine).join('\n')}` : 'no unfinished runs');
      if (latest.length) say(`latest per track:\n${latest.map(runLine).join('\n')}`);
    }));

  pipeline.command('history').description('runs, newest first').option('--track <track>').option('--limit <n>', 'how many', '20').option('--json', 'print JSON')
    .action(action(session, async (opts: { track?: string; limit: string; json?: boolean }) => {
      const limit = /^\d+$/.test(opts.limit) ? Number(opts.limit) : NaN;
      const r = await runHistory(session.store(), { ...(opts.track ? { track: opts.track } : {}), limit });
      if (opts.json) return printJson({ ok: true, runs: r.evidence.runs, passed_over: r.evidence.passed_over });
      say(r.evidence.runs.length ? r.evidence.runs.map(runLine).join('\n') : r.reason);
      if (r.evidence.passed_over.length) {
        say('versions the poll did not run:');
        for (const p of r.evidence.passed_over) say(`  ${p.at.replace('T', ' ').slice(0, 19)}  ${p.track.padEnd(10)} ${p.version.padEnd(14)} ${p.kind}: ${p.reason}`);
      }
    }));

  pipeline.command('show').description('one run: stages, reasons, evidence, events, manifests').argument('<run>', 'run id').option('--json', 'print JSON')
    .action(action(session, async (runId: string, opts: { json?: boolean }) => {
      const shown = (await showRun(session.store(), runId, session.config().config.authority?.canary.soak ?? 0)).evidence;
      if (opts.json) return printJson({ ok: true, ...shown });
      say(runShow(shown));
    }));
}

function finish(d: RunDetail & { finished: boolean }, json?: boolean) {
  const { run, stages } = d;
  if (!d.finished) {
    if (json) printJson({ ok: false, run, stages, interrupted: true });
    else say(`run ${run.id} interrupted at ${run.stage}; it resumes with \`upshift pipeline run\` or the daemon`);
    return 1 as const;
  }
  if (json) printJson({ ok: run.status === 'completed', run, stages });
  else say(runSummary(run, stages));
  return exitCodeOfRun(run);
}

/** SIGINT/SIGTERM stop the foreground run cleanly: the state is persisted and resumable. */
function shutdownSignal(): AbortSignal {
  const ctl = new AbortController();
  const stop = () => ctl.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return ctl.signal;
}
