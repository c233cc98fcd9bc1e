// Heartbeats as the store keeps them (one kv row per node, the latest wins) and as the
// pipeline reads them (core/ports.ts NodeReport). The heartbeat's apply_state is one string
// per SPEC; it carries every track as `track=state#seq`, comma-separated, so a report can
// say per track what the node runs.
import type { NodeReport } from '../../core/ports.js';
import type { StateStore } from '../../core/ports.js';
import { heartbeatSchema, type Heartbeat } from '../../gossip/types.js';

export const HEARTBEAT_KEY_PREFIX = 'gossip.heartbeat.';

/** `testnet=confirmed#4,production=probation#2`; 'idle' when nothing was ever applied. */
export function encodeApplyState(status: Record<string, { state: string; seq: number }>): string {
  const parts = Object.keys(status).sort().map((track) => `${track}=${status[track]?.state}#${status[track]?.seq}`);
  return parts.length === 0 ? 'idle' : parts.join(',');
}

export function decodeApplyState(text: string): Record<string, { state: string; seq: number | null }> {
  const out: Record<string, { state: string; seq: number | null }> = {};
  for (const part of text.split(',')) {
    const m = /^([^=,#]+)=([^#,]+)(?:#(\d+))?$/.exec(part);
    if (m) out[m[1] as string] = { state: m[2] as string, seq: m[3] === undefined ? null : Number(m[3]) };
  }
  return out;
}

export function toReport(hb: Heartbeat, at: number): NodeReport {
  const states = decodeApplyState(hb.apply_state);
  const tracks: NodeReport['tracks'] = {};
  for (const track of new Set([...Object.keys(hb.versions), ...Object.keys(states)])) {
    tracks[track] = {
      seq: states[track]?.seq ?? null,
      version: hb.versions[track] ?? null,
      // Heartbeats carry no commit; the version and code hash identify the release.
      commit: null,
      codeHash: hb.code_hash[track] ?? null,
      state: states[track]?.state ?? 'idle',
      ...(hb.apply_reason?.[track] ? { reason: hb.apply_reason[track] } : {}),
    };
  }
  return { node: hb.node, at, labels: hb.labels, health: hb.health, errorRate: hb.error_rate, tracks, smokeRegressed: hb.smoke?.regressed ?? null };
}

/** Every node's latest saved heartbeat (this node's own included), by node id. Unreadable rows are skipped. */
export async function reports(store: StateStore): Promise<NodeReport[]> {
  const rows = await store.kv.withPrefix(HEARTBEAT_KEY_PREFIX);
  const out: NodeReport[] = [];
  for (const row of rows) {
    try {
      const saved = JSON.parse(row) as { at: unknown; heartbeat: unknown };
      const hb = heartbeatSchema.parse(saved.heartbeat);
      if (typeof saved.at === 'number') out.push(toReport(hb, saved.at));
    } catch {
      // a row written by another version; the next heartbeat replaces it
    }
  }
  return out;
}
