// What an agent tool is: a name, one zod schema whose every field is described, MCP
// annotations, and a handler over the services. Front doors (MCP, HTTP, `upshift tool`,
// `upshift bench`) only parse, call `callTool` (index.ts) and render.
import type { z } from 'zod';
import type { PipelineService } from '../runtime/pipeline-service.js';
import type { Outcome, ServiceContext } from '../services/context.js';

export interface ToolAnnotations {
  title: string;
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

/** What a tool call runs with: the service context (actor = caller), the pipeline, and whether this door can drive runs. */
export interface ToolEnv {
  ctx: ServiceContext;
  pipeline(): PipelineService;
  /**
   * A long-lived door (MCP server, daemon) drives a run in the background when nobody
   * does; a one-shot one (`upshift tool`) leaves that to the daemon and never blocks.
   */
  drive: boolean;
  /** Aborts background drives when the door shuts down (their state stays persisted and resumable). */
  signal?: AbortSignal;
  /**
   * A door that does not lead (the CLI on authority replicas): answers a call itself (queued
   * for the leader, or refused) before the tool runs here; null lets the tool run.
   */
  route?: (name: string, raw: unknown) => Promise<import('./index.js').ToolAnswer | null>;
}

export interface Tool<S extends z.ZodObject = z.ZodObject> {
  name: string;
  description: string;
  schema: S;
  annotations: ToolAnnotations;
  run(env: ToolEnv, args: z.output<S>): Promise<Outcome<unknown>>;
  /** Whether these arguments change state (audited); default: unless the tool is read-only. */
  mutates?(args: z.output<S>): boolean;
}

export const defineTool = <S extends z.ZodObject>(t: Tool<S>): Tool<S> => t;

/** Read-only tools: no state written. */
export const READ: Omit<ToolAnnotations, 'title'> = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
