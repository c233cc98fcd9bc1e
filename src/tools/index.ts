// The ten agent tools and the one way to call them: look the tool up, check the arguments
// against its schema, run it, answer `{ ok, reason, evidence }` (or `{ ok: false, reason,
// error }` with the stable code), and write every mutating call to the audit trail.
import { z } from 'zod';
import { toUpshiftError, UpshiftError } from '../core/errors.js';
import { advanceUpgradePipeline } from './advance-upgrade-pipeline.js';
import { captureBenchmark } from './capture-benchmark.js';
import { checkCanaryHealth } from './check-canary-health.js';
import { checkUpgradeStatus } from './check-upgrade-status.js';
import { compareBenchmarks } from './compare-benchmarks.js';
import { getBenchmarkHistory } from './get-benchmark-history.js';
import { listBenchmarks } from './list-benchmarks.js';
import { registerBenchmark } from './register-benchmark.js';
import { rollbackUpgrade } from './rollback-upgrade.js';
import { startUpgrade } from './start-upgrade.js';
import type { Tool, ToolEnv } from './tool.js';

export type { Tool, ToolEnv } from './tool.js';

export const TOOLS: readonly Tool[] = [
  checkUpgradeStatus, captureBenchmark, compareBenchmarks, startUpgrade, advanceUpgradePipeline,
  checkCanaryHealth, rollbackUpgrade, getBenchmarkHistory, registerBenchmark, listBenchmarks,
] as unknown as Tool[];

export type ToolAnswer =
  | { ok: true; reason: string; evidence: unknown }
  | { ok: false; reason: string; error: ReturnType<UpshiftError['toJSON']>; evidence: Record<string, unknown> };

export function findTool(name: string): Tool {
  const tool = TOOLS.find((t) => t.name === name);
  if (!tool) throw new UpshiftError('E_UNKNOWN_TOOL', `no tool "${name}"; the tools are ${TOOLS.map((t) => t.name).join(', ')}`);
  return tool;
}

/** Arguments checked against a tool's schema; E_USAGE naming every field that is wrong. */
export function parseArgs(tool: Tool, raw: unknown): Record<string, unknown> {
  const parsed = tool.schema.safeParse(raw ?? {});
  if (parsed.success) return parsed.data as Record<string, unknown>;
  const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(arguments)', message: i.message }));
  throw new UpshiftError('E_USAGE', `${tool.name}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { details: { issues } });
}

const failure = (err: unknown): Extract<ToolAnswer, { ok: false }> => {
  const e = toUpshiftError(err);
  return { ok: false, reason: e.message, error: e.toJSON(), evidence: e.details ?? {} };
};

/** Call a tool by name with raw arguments. Never throws: every failure is an answer with its code. */
export async function callTool(env: ToolEnv, name: string, raw: unknown): Promise<ToolAnswer> {
  if (env.route) {
    try {
      const routed = await env.route(name, raw);
      if (routed) return routed;
    } catch (err) {
      return failure(err);
    }
  }
  let tool: Tool;
  let args: Record<string, unknown>;
  try {
    tool = findTool(name);
    args = parseArgs(tool, raw);
  } catch (err) {
    return failure(err);
  }
  const mutates = tool.mutates ? tool.mutates(args) : !tool.annotations.readOnlyHint;
  let answer: ToolAnswer;
  try {
    const out = await tool.run(env, args);
    answer = { ok: true, reason: out.reason, evidence: out.evidence };
  } catch (err) {
    answer = failure(err);
    if (answer.error.code === 'E_INTERNAL') env.ctx.log.error({ tool: name, err: (err as Error).stack }, 'tool failed');
  }
  if (mutates) await audit(env, tool.name, args, answer);
  return answer;
}

/** The audit trail: who called which mutating tool with what, and how it ended (the events table). */
async function audit(env: ToolEnv, tool: string, args: Record<string, unknown>, answer: ToolAnswer): Promise<void> {
  const { store, clock, actor, log } = env.ctx;
  const run = runIdOf(answer.evidence) ?? (typeof args.run === 'string' ? args.run : null);
  const outcome = answer.ok ? 'ok' : answer.error.code;
  try {
    await store.appendEvent({
      at: clock.now(), runId: run, stage: null, kind: 'tool.call', actor,
      data: { tool, arguments: args, outcome, reason: answer.reason.slice(0, 1000) },
    });
  } catch (err) {
    log.error({ tool, actor, err: (err as Error).message }, 'could not write the audit record of a tool call');
  }
}

function runIdOf(evidence: unknown): string | null {
  const run = (evidence as { run?: { id?: unknown } } | null)?.run;
  return typeof run?.id === 'string' ? run.id : null;
}

/** Every tool in the function-calling format (`{ type: 'function', function: { name, description, parameters } }`). */
export function functionSchemas(): Array<{ type: 'function'; function: { name: string; description: string; parameters: unknown }; annotations: Tool['annotations'] }> {
  return TOOLS.map((t) => ({
    type: 'function' as const,
    function: { name: t.name, description: t.description, parameters: inputSchema(t) },
    annotations: t.annotations,
  }));
}

/** A tool's arguments as JSON Schema (what MCP's tools/list and function calling expect). */
export function inputSchema(t: Tool): Record<string, unknown> {
  const { $schema: _drop, ...schema } = z.toJSONSchema(t.schema, { io: 'input' }) as Record<string, unknown>;
  return schema;
}
