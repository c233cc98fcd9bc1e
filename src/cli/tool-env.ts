// The tool environment of a CLI invocation: the session's service context (the actor names
// the door and the user) and the pipeline, built only when a tool needs it. On authority
// replicas (PostgreSQL) a call that changes something is routed to the leader's queue or
// refused (tools/replica-tools.ts).
import { hostname, userInfo } from 'node:os';
import { pipelineDeps } from '../runtime/deps.js';
import { PipelineService } from '../runtime/pipeline-service.js';
import { leaderWaitMs, pgTarget, postgresStore } from '../runtime/pg-target.js';
import { storedHeldView } from '../runtime/published-view.js';
import type { ToolEnv } from '../tools/index.js';
import type { Session } from './shared.js';

export function sessionToolEnv(session: Session, opts: { door: 'cli' | 'mcp'; drive: boolean; signal?: AbortSignal }): ToolEnv {
  const ctx = session.context();
  const actor = opts.door === 'cli' ? ctx.actor : ctx.actor.replace(/^cli:/, 'mcp:');
  let pipeline: PipelineService | null = null;
  return {
    ctx: { ...ctx, actor },
    pipeline: () => {
      if (pipeline) return pipeline;
      const deps = pipelineDeps(ctx.config, ctx.store, ctx.log);
      deps.published = storedHeldView(ctx.store); // the seq guard (stages/seq-guard.ts)
      return (pipeline = new PipelineService(deps));
    },
    drive: opts.drive,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(postgresStore(ctx.config) ? { route: (name: string, raw: unknown) => routeToLeader(ctx, actor, name, raw) } : {}),
  };
}

/** One call from a CLI door on replicas: queued for the leader (waiting for its answer) or refused. */
async function routeToLeader(ctx: ToolEnv['ctx'], actor: string, name: string, raw: unknown) {
  const pg = postgresStore(ctx.config);
  if (!pg) return null;
  const [{ connectPrimary }, { leaderTool }] = await Promise.all([
    import('../adapters/postgres/connect.js'), import('../tools/replica-tools.js'),
  ]);
  const client = await connectPrimary(pgTarget(pg, 'upshift-cli'));
  try {
    return await leaderTool({
      config: ctx.config, store: ctx.store, pool: client, self: `cli:${userInfo().username}@${hostname()}`,
      queues: new Set(['rollback_upgrade', 'start_upgrade', 'register_benchmark']), waitMs: leaderWaitMs(pg), withdraw: true,
    }, actor, name, raw);
  } finally {
    await client.end().catch(() => undefined);
  }
}
