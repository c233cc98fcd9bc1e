// `upshift pipeline run|start|advance|approve|rollback|status|history|show`
import type { Command } from 'commander';
import { userInfo } from 'node:os';
import { UpshiftError } from '../../core/errors.js';
import { TERMINAL } from '../../core/run.js';
import { pipelineDeps } from '../../runtime/deps.js';
import { PipelineService } from '../../runtime/pipeline-service.js';
import { exitCodeOfRun, progressPrinter, runLine, runSummary } from '../render.js';
import { action, printJson, say, type Session } from '../shared.js';

const who = () => `cli:${userInfo().username}`;

export function registerPipeline(program: Command, session: Session): void {
  const pipeline = program.command('pipeline').description('run versions through build, test, audit, benchmark, sign, canary, deploy');

  /** Config, keys and store, checked in that order so a bad config or key changes nothing. */
  const service = async (logLevel?: string) => {
    const { config } = session.config();
    const store = session.store();
    const deps = pipelineDeps(config, store, session.log(logLevel));
    return new PipelineService(deps);
  };
  const preflightKeys = async (svc: PipelineService) => {
    await svc.deps.loadSigners();
  };

  pipeline.command('run').description('run one version through the whole pipeline in the foreground')
    .requiredOption('--ref <ref>', 'branch, tag or commit').option('--track <track>', 'track (default: from the ref)').option('--json', 'print JSON')
    .action(action(session, async (opts: { ref: string; track?: string; json?: boolean }) => {
      const svc = await service(process.stderr.isTTY ? 'warn' : 'info');
      await preflightKeys(svc);
      const candidate = await svc.resolve(opts.ref, opts.track);
      const { run, created } = svc.startOrFind(candidate);
      const tty = !opts.json && process.stdout.isTTY;
      if (!opts.json) say(`${created ? 'started' : 'resuming'} run ${run.id}: ${candidate.track} ${candidate.version}`);
      const onState = tty ? progressPrinter(process.stdout, (id) => svc.deps.store.stageResults(id)) : undefined;
      const done = await svc.orchestrator.drive(run.id, { until: 'terminal', ...(onState ? { onState } : {}), signal: shutdownSignal() });
      return finish(svc, done.id, opts.json);
    }));

  pipeline.command('start').description('create a run for a ref; the daemon (or `pipeline advance`) drives it')
    .requiredOption('--ref <ref>', 'branch, tag or commit').option('--track <track>', 'track').option('--json', 'print JSON')
    .action(action(session, async (opts: { ref: string; track?: string; json?: boolean }) => {
      const svc = await service();
      await preflightKeys(svc);
      const { run, created } = svc.startOrFind(await svc.resolve(opts.ref, opts.track));
      if (opts.json) printJson({ ok: true, created, run });
      else say(`${created ? 'created' : 'already exists:'} ${runLine(run)}`);
    }));

  pipeline.command('advance').description('drive a run through its next stage (default: the oldest unfinished run)')
    .argument('[run]', 'run id').option('--json', 'print JSON')
    .action(action(session, async (runId: string | undefined, opts: { json?: boolean }) => {
      const svc = await service();
      const id = runId ?? svc.deps.store.unfinishedRuns()[0]?.id;
      if (!id) throw new UpshiftError('E_RUN_NOT_FOUND', 'no unfinished run to advance');
      const run = await svc.orchestrator.drive(id, { until: 'stage', signal: shutdownSignal() });
      if (opts.json) printJson({ ok: true, run, stages: svc.deps.store.stageResults(id) });
      else say(runSummary(run, svc.deps.store.stageResults(id)));
    }));

  pipeline.command('approve').description('approve protected-path changes of a run (a run that failed its audit is retried)')
    .argument('<run>', 'run id').option('--reason <text>', 'why', 'approved by operator').option('--json', 'print JSON')
    .action(action(session, async (runId: string, opts: { reason: string; json?: boolean }) => {
      const svc = await service();
      const { run, retry, created } = svc.approve(runId, who(), opts.reason);
      if (opts.json) printJson({ ok: true, retry, created, run });
      else if (retry && !created) {
        say(`already approved: ${runId} has its one retry ${run.id} (${run.status}); nothing new was started`);
      }
      else say(retry ? `approved; started retry ${run.id} of ${runId} (drive it with \`upshift pipeline advance ${run.id}\` or the daemon)` : `approved ${runId}`);
    }));

  pipeline.command('rollback').description('stop a run; if its release reached nodes, publish a signed rollback')
    .argument('<run>', 'run id').requiredOption('--reason <text>', 'why').option('--json', 'print JSON')
    .action(action(session, async (runId: string, opts: { reason: string; json?: boolean }) => {
      const svc = await service();
      svc.orchestrator.abort(runId, opts.reason, who());
      const holder = svc.deps.store.leaseHolder(runId);
      // nobody drives it: apply the abort here; otherwise the driver picks it up
      const run = holder ? svc.deps.store.requireRun(runId) : await svc.orchestrator.drive(runId, { until: 'terminal' });
      if (opts.json) printJson({ ok: true, run, queued: Boolean(holder) });
      else say(holder ? `abort queued; ${holder.owner} is driving ${runId}` : runSummary(run, svc.deps.store.stageResults(runId)));
    }));

  pipeline.command('status').description('unfinished runs and the latest run of each track').option('--json', 'print JSON')
    .action(action(session, async (opts: { json?: boolean }) => {
      const store = session.store();
      const unfinished = store.unfinishedRuns();
      const latest = store.listRuns({ limit: 10 });
      if (opts.json) return printJson({ ok: true, unfinished, latest });
      say(unfinished.length ? `unfinished:\n${unfinished.map(runLine).join('\n')}` : 'no unfinished runs');
      if (latest.length) say(`latest:\n${latest.map(runLine).join('\n')}`);
    }));

  pipeline.command('history').description('runs, newest first').option('--track <track>').option('--limit <n>', 'how many', '20').option('--json', 'print JSON')
    .action(action(session, async (opts: { track?: string; limit: string; json?: boolean }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UpshiftError('E_USAGE', `--limit expects a positive integer, got "${opts.limit}"`);
      const runs = session.store().listRuns({ ...(opts.track ? { track: opts.track } : {}), limit });
      if (opts.json) printJson({ ok: true, runs });
      else say(runs.length ? runs.map(runLine).join('\n') : 'no runs yet');
    }));

  pipeline.command('show').description('one run: stages, reasons, evidence, events, manifests').argument('<run>', 'run id').option('--json', 'print JSON')
    .action(action(session, async (runId: string, opts: { json?: boolean }) => {
      const store = session.store();
      const run = store.requireRun(runId);
      const stages = store.stageResults(runId);
      const manifests = store.manifests.list(run.track).filter((m) => m.runId === runId).map(({ payload, ...m }) => ({ ...m, payload: Buffer.from(payload).toString('utf8') }));
      if (opts.json) return printJson({ ok: true, run, stages, manifests, events: store.events({ runId }), approval: store.approvals.get(runId) });
      say(runSummary(run, stages));
      for (const m of manifests) say(`  manifest ${m.track}#${m.seq} ${m.purpose} ${m.envelope ? 'signed' : 'reserved'}`);
    }));
}

function finish(svc: PipelineService, runId: string, json?: boolean) {
  const run = svc.deps.store.requireRun(runId);
  const stages = svc.deps.store.stageResults(runId);
  if (!TERMINAL.has(run.status)) {
    if (json) printJson({ ok: false, run, stages, interrupted: true });
    else say(`run ${runId} interrupted at ${run.stage}; it resumes with \`upshift pipeline run\` or the daemon`);
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
