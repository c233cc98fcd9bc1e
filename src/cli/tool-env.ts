// The tool environment of a CLI invocation: the session's service context (the actor names
// the door and the user) and the pipeline, built only when a tool needs it.
import { pipelineDeps } from '../runtime/deps.js';
import { PipelineService } from '../runtime/pipeline-service.js';
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
  };
}
