// Deployment policy (SPEC "Rollout strategies and deployments"): the fields of a deployment
// key in upshift.yaml (`authority.deployments`), SPEC's defaults, the flags one deploy may
// override them with, and the checks against the fleet. Pure: the rollout decisions
// (decisions/rollout.ts) read the resolved policy, nothing else.
import { z } from 'zod';
import { formatDuration, parseDuration } from './duration.js';
import { UpshiftError } from './errors.js';

export const STRATEGIES = ['rolling', 'canary', 'blue_green'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** A node count (2) or a share of the fleet ("25%"), as written in config and on the CLI. */
export type Amount = number | `${number}%`;

export interface DeployPolicy {
  strategy: Strategy;
  max_parallel: Amount;
  canary: Amount;
  min_healthy: number;
  healthy_deadline: number;
  progress_deadline: number;
  health_check: 'checks' | 'agent_states';
  auto_promote: boolean;
  auto_revert: boolean;
  /** Extra wait between one wave turning healthy and the next starting, ms (Nomad's `stagger`). */
  stagger: number;
}

/** SPEC's defaults; `stagger` is not in SPEC: 0, the next wave starts once the last held min_healthy. */
export const POLICY_DEFAULTS: DeployPolicy = {
  strategy: 'rolling', max_parallel: 1, canary: 0, min_healthy: 10_000, healthy_deadline: 300_000,
  progress_deadline: 600_000, health_check: 'checks', auto_promote: false, auto_revert: false, stagger: 0,
};

const AMOUNT = /^(\d{1,3})%$/;

/** Parse 2, "2" or "25%"; throws E_DEPLOY_POLICY naming the field. */
export function parseAmount(value: unknown, field: string): Amount {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string') {
    if (/^\d{1,6}$/.test(value)) return Number(value);
    const m = AMOUNT.exec(value);
    if (m && Number(m[1]) <= 100) return `${Number(m[1])}%`;
  }
  throw new UpshiftError('E_DEPLOY_POLICY', `${field}: expected a node count like 2 or a percentage like 25%, got ${JSON.stringify(value)}`, { details: { field, value } });
}

/** How many nodes an amount is on a fleet of `size`: a percentage rounds up, and is at least one when above 0%. */
export function countOf(amount: Amount, size: number): number {
  if (typeof amount === 'number') return amount;
  const pct = Number(amount.slice(0, -1));
  return pct === 0 ? 0 : Math.max(1, Math.ceil((size * pct) / 100));
}

const durationField = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: `expected a duration like 30s, 5m or 1h, got "${text}"` });
    return z.NEVER;
  }
});
const amountField = z.union([z.int().min(0), z.string()]).transform((v, ctx) => {
  try {
    return parseAmount(v, 'amount');
  } catch {
    ctx.addIssue({ code: 'custom', message: `expected a node count like 2 or a percentage like 25%, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
});

/** One entry of `authority.deployments`; a field left out takes the track's default. */
export const deploymentEntrySchema = z.strictObject({
  /** The track it deploys; default: the key itself. */
  track: z.string().optional(),
  strategy: z.enum(STRATEGIES, { error: `expected one of ${STRATEGIES.join(', ')}` }).optional(),
  max_parallel: amountField.optional(),
  canary: amountField.optional(),
  min_healthy: durationField.optional(),
  healthy_deadline: durationField.optional(),
  progress_deadline: durationField.optional(),
  health_check: z.enum(['checks', 'agent_states']).optional(),
  auto_promote: z.boolean().optional(),
  auto_revert: z.boolean().optional(),
  stagger: durationField.optional(),
});
export type DeploymentEntry = z.output<typeof deploymentEntrySchema>;

/** What one deploy asks for on the CLI (or from an agent tool): raw, checked here. */
export interface PolicyFlags {
  strategy?: string;
  max_parallel?: string | number;
  canary?: string | number;
  min_healthy?: string;
  healthy_deadline?: string;
  progress_deadline?: string;
  auto_promote?: boolean;
  auto_revert?: boolean;
  stagger?: string;
}

function flagDuration(text: string, field: string): number {
  try {
    return parseDuration(text);
  } catch {
    throw new UpshiftError('E_DEPLOY_POLICY', `${field}: expected a duration like 30s or 5m, got ${JSON.stringify(text)}`, { details: { field } });
  }
}

/**
 * The policy in force: SPEC defaults, then the track's legacy `authority.deploy` values,
 * then the key's entry, then this deploy's flags. Throws E_DEPLOY_POLICY for an unknown
 * strategy, a bad amount or duration, or flags that contradict each other.
 */
export function resolvePolicy(
  entry: DeploymentEntry | undefined,
  flags: PolicyFlags = {},
  legacy: { progress_deadline?: number; auto_revert?: boolean } = {},
): DeployPolicy {
  const { track: _track, ...fields } = entry ?? {};
  const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  const p: DeployPolicy = { ...POLICY_DEFAULTS, ...defined(legacy), ...defined(fields) } as DeployPolicy;
  if (flags.strategy !== undefined) {
    if (!(STRATEGIES as readonly string[]).includes(flags.strategy)) {
      throw new UpshiftError('E_DEPLOY_POLICY', `unknown strategy ${JSON.stringify(flags.strategy)}: expected one of ${STRATEGIES.join(', ')}`, { details: { strategy: flags.strategy } });
    }
    p.strategy = flags.strategy as Strategy;
  }
  if (flags.max_parallel !== undefined) p.max_parallel = parseAmount(flags.max_parallel, 'max_parallel');
  if (flags.canary !== undefined) p.canary = parseAmount(flags.canary, 'canary');
  for (const f of ['min_healthy', 'healthy_deadline', 'progress_deadline', 'stagger'] as const) {
    const v = flags[f];
    if (v !== undefined) p[f] = flagDuration(v, f);
  }
  // Unset, healthy_deadline fits a shorter progress_deadline instead of refusing it (Nomad's rule).
  if (fields.healthy_deadline === undefined && flags.healthy_deadline === undefined) p.healthy_deadline = Math.min(p.healthy_deadline, p.progress_deadline);
  if (flags.auto_promote !== undefined) p.auto_promote = flags.auto_promote;
  if (flags.auto_revert !== undefined) p.auto_revert = flags.auto_revert;
  checkPolicy(p, flags);
  return p;
}

function conflict(message: string, details: Record<string, unknown> = {}): UpshiftError {
  return new UpshiftError('E_DEPLOY_POLICY', message, { details });
}

/** Rules between fields, whatever set them. */
export function checkPolicy(p: DeployPolicy, flags: PolicyFlags = {}): void {
  if (p.max_parallel === 0 || p.max_parallel === '0%') throw conflict('max_parallel must be at least 1 node (or above 0%): 0 would move nothing', { max_parallel: p.max_parallel });
  if (p.strategy !== 'canary' && countOf(p.canary, 1) > 0) {
    const from = flags.canary !== undefined ? 'the --canary flag' : 'canary';
    throw conflict(`${from} (${p.canary}) needs strategy canary, not ${p.strategy}`, { strategy: p.strategy, canary: p.canary });
  }
  if (p.strategy !== 'canary' && flags.auto_promote === true) throw conflict(`--auto-promote needs strategy canary, not ${p.strategy}`);
  if (p.min_healthy > p.healthy_deadline) {
    throw conflict(`min_healthy (${formatDuration(p.min_healthy)}) is longer than healthy_deadline (${formatDuration(p.healthy_deadline)}): no node could pass`);
  }
  if (p.healthy_deadline > p.progress_deadline) {
    throw conflict(`healthy_deadline (${formatDuration(p.healthy_deadline)}) is longer than progress_deadline (${formatDuration(p.progress_deadline)})`);
  }
}

/** The waves' size on a fleet of `size` live nodes; E_DEPLOY_POLICY when it is 0 or above the fleet. */
export function waveSize(p: DeployPolicy, size: number): number {
  const n = countOf(p.max_parallel, size);
  if (n < 1) throw conflict('max_parallel must be at least 1 node');
  if (typeof p.max_parallel === 'number' && size > 0 && n > size) {
    throw conflict(`max_parallel ${n} is above the fleet size: ${size} live node(s) run this track`, { max_parallel: n, fleet: size });
  }
  return Math.max(1, Math.min(n, size));
}

/** The canary wave's size: at least one node under strategy canary, never the whole fleet when more than one runs. */
export function canarySize(p: DeployPolicy, size: number): number {
  if (p.strategy !== 'canary') return 0;
  const n = Math.max(1, countOf(p.canary, size));
  if (typeof p.canary === 'number' && size > 0 && n > size) throw conflict(`canary ${n} is above the fleet size: ${size} live node(s) run this track`, { canary: n, fleet: size });
  return Math.min(n, size);
}

/** The policy as JSON for history and the manifest (durations in ms). */
export function policyJson(p: DeployPolicy): DeployPolicy {
  return { ...p };
}
