// The fleet's heartbeat interval (issue 13 "Ingest at scale"), as Nomad sizes its client
// heartbeats: the authority takes at most `maxPerSecond` heartbeats a second, so the interval
// grows with the fleet, interval = max(base, nodes / maxPerSecond). Nodes that must be watched
// closely (canaries, their control sample, applying nodes) stay at the base interval and are
// paid for first; the rest share what is left of the budget. Pure: the authority signs the
// result as a fleet setting (trust/fleet-settings.ts) and nodes apply it.

export interface HeartbeatPlanInput {
  /** Nodes heard from (the fleet's size). */
  nodes: number;
  /** Of those, how many stay at the base interval. */
  pinned?: number;
  baseMs: number;
  maxPerSecond: number;
}

export interface HeartbeatPlan {
  baseMs: number;
  /** What every node not pinned sends at. */
  intervalMs: number;
  /** The pinned count this plan was made for. */
  pinnedMax: number;
  /** Heartbeats a second the authority should see under this plan. */
  perSecond: number;
  reason: string;
}

/** Past this the interval stops growing: a node unheard for longer could not be told from a dead one. */
export const MAX_INTERVAL_MS = 300_000;

export function heartbeatPlan(i: HeartbeatPlanInput): HeartbeatPlan {
  const pinned = Math.min(i.nodes, Math.max(0, i.pinned ?? 0));
  const rest = i.nodes - pinned;
  const pinnedRate = pinned / (i.baseMs / 1000);
  const room = i.maxPerSecond - pinnedRate;
  let intervalMs = i.baseMs;
  let reason = `${i.nodes} node(s) at the base interval stay within ${i.maxPerSecond}/s`;
  if (rest > 0 && rest / (i.baseMs / 1000) + pinnedRate > i.maxPerSecond) {
    // whole seconds: a setting that changes with every node joining would be re-signed constantly
    const needed = room > 0 ? Math.ceil(rest / room) * 1000 : MAX_INTERVAL_MS;
    intervalMs = Math.min(MAX_INTERVAL_MS, Math.max(i.baseMs, needed));
    reason = `${rest} node(s) share ${Math.max(0, Math.round(room))}/s after ${pinned} at the base interval`;
    if (needed > MAX_INTERVAL_MS) reason += `; capped at ${MAX_INTERVAL_MS / 1000} s, above the budget`;
  }
  const perSecond = pinnedRate + rest / (intervalMs / 1000);
  return { baseMs: i.baseMs, intervalMs, pinnedMax: pinned, perSecond, reason };
}

/**
 * How long a node may be unheard before it counts as silent, with the interval it was told:
 * the configured timeout, or three intervals when that is longer (one lost heartbeat is not silence).
 */
export function silentAfterMs(configuredMs: number, intervalMs: number | null): number {
  return intervalMs === null ? configuredMs : Math.max(configuredMs, 3 * intervalMs);
}

/**
 * Whether a node reports to the authority now: at once when its state (its heartbeat, error
 * rate aside) changed since the last report, else once `everyMs` has passed since it.
 */
export function reportDue(
  last: { at: number; state: string } | null, now: number, state: string, everyMs: number,
): boolean {
  return last === null || state !== last.state || now - last.at >= everyMs;
}
