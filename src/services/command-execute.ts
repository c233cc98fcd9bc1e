// What the leader does for each kind of queued command: the same service a direct CLI call
// or agent tool would call, acting as the caller who queued it. Kept apart from the queue
// (command-queue.ts) so the list of kinds reads in one place.
import { UpshiftError } from '../core/errors.js';
import { TERMINAL } from '../core/run.js';
import type { PolicyFlags } from '../core/deploy-policy.js';
import type { QueuedCommand } from '../adapters/postgres/replicas.js';
import type { ServiceContext } from './context.js';
import { registerBenchmark } from './benchmark-registry.js';
import {
  deploy, failDeployment, pauseDeployment, promoteDeployment, resumeDeployment, rollbackDeployment,
} from './deployments.js';
import { revokeNode } from './fleet.js';
import { approveRun, startRun } from './pipeline.js';
import { startUpgrade } from './upgrade.js';
import type { PipelineService } from '../runtime/pipeline-service.js';

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Drive a run in the background when nobody does: the leader carries out what it was handed. */
async function driveIfIdle(p: PipelineService, runId: string): Promise<string | null> {
  const holder = await p.deps.store.leaseHolder(runId);
  if (!holder) void p.orchestrator.drive(runId, { until: 'terminal' }).catch(() => undefined);
  return holder?.owner ?? null;
}

/** Carry out one command on the leader; the answer a service gave, or its error. */
export async function executeCommand(p: PipelineService, ctx: ServiceContext, c: QueuedCommand): Promise<Record<string, unknown>> {
  const as = { ...ctx, actor: c.by };
  const flags = (c.args.flags ?? {}) as PolicyFlags;
  const deployed = (r: { reason: string; evidence: { deployment: unknown } }) => ({ reason: r.reason, deployment: r.evidence.deployment });
  switch (c.kind) {
    case 'approve': {
      const r = await approveRun(p, { runId: c.target, reason: c.reason, by: c.by });
      return { reason: r.reason, run: r.evidence.run.id, retry: r.evidence.retry, created: r.evidence.created };
    }
    case 'rollback':
    case 'abort': {
      await p.orchestrator.abort(c.target, c.reason, c.by);
      const holder = await driveIfIdle(p, c.target);
      return { reason: `abort of ${c.target} handed to its driver${holder ? ` (${holder})` : ''}` };
    }
    case 'revoke': {
      const r = await revokeNode(as, { node: c.target, reason: c.reason });
      return { reason: r.reason, evidence: r.evidence };
    }
    case 'start': {
      const track = str(c.args.track);
      if (c.args.tool === 'start_upgrade') {
        // the agent tool's own rules: refused while the track has another run; no ref: the track's newest
        const r = await startUpgrade(p, { ...(c.target ? { ref: c.target } : {}), ...(track ? { track } : {}), drive: true });
        return { reason: r.reason, run: r.evidence.run.id, created: r.evidence.created, status: r.evidence.run.status };
      }
      const r = await startRun(p, { ref: c.target, ...(track ? { track } : {}) });
      const { run, created } = r.evidence;
      // a new run (or one left unfinished) is driven here now, not at the next poll
      if (!TERMINAL.has(run.status)) await driveIfIdle(p, run.id);
      return { reason: r.reason, run: run.id, created, status: run.status };
    }
    case 'deploy': {
      const version = str(c.args.version);
      const runId = str(c.args.run);
      return deployed(await deploy(as, {
        key: c.target, flags, urgent: c.args.urgent === true,
        ...(version !== undefined ? { version } : {}), ...(runId !== undefined ? { runId } : {}),
      }));
    }
    case 'promote': return deployed(await promoteDeployment(as, c.target, c.reason));
    case 'pause': return deployed(await pauseDeployment(as, c.target, c.reason));
    case 'resume': return deployed(await resumeDeployment(as, c.target, c.reason));
    case 'fail': return deployed(await failDeployment(as, c.target, c.reason));
    case 'deploy_rollback':
      return deployed(await rollbackDeployment(as, { key: c.target, number: Number(c.args.number), reason: c.reason, flags }));
    case 'bench_register': {
      const command = str(c.args.command);
      const ref = str(c.args.ref);
      const r = await registerBenchmark(p, {
        repoUrl: str(c.args.repo_url) ?? '', name: c.target, tier: c.args.tier === 'fast' ? 'fast' : 'heavy', by: c.by,
        ...(command ? { command } : {}), ...(ref ? { ref } : {}),
      });
      return { reason: r.reason, evidence: r.evidence };
    }
    default:
      // queued by a newer binary than this leader's: refused, never half done
      throw new UpshiftError('E_NOT_IMPLEMENTED',
        `this leader does not know queued commands of kind "${String((c as { kind: unknown }).kind)}"`);
  }
}
