// A heartbeat as received, turned into the node state the fleet read model keeps
// (core/node-state.ts). The apply state travels per track as `{state, seq}`; older nodes
// pack it into one string `track=state#seq,...` (or `idle`), which is still read here.
import { IDLE, type HeardOn, type NodeState, type TrackState } from '../../core/node-state.js';
import type { Heartbeat } from '../../gossip/types.js';

type ApplyState = Record<string, { state: string; seq: number | null }>;

/** What this node sends: per track its newest apply's state and seq (`{}` before any). */
export function applyStateOf(status: Record<string, { state: string; seq: number }>): ApplyState {
  const entry = (track: string) => ({ state: status[track]?.state ?? IDLE, seq: status[track]?.seq ?? null });
  return Object.fromEntries(Object.keys(status).sort().map((track) => [track, entry(track)]));
}

/** The apply state of a heartbeat in either form; an unreadable part of the old form is skipped. */
export function readApplyState(wire: Heartbeat['apply_state']): ApplyState {
  if (typeof wire !== 'string') return wire;
  const out: ApplyState = {};
  for (const part of wire.split(',')) {
    const m = /^([^=,#]+)=([^#,]+)(?:#(\d+))?$/.exec(part);
    if (m) out[m[1] as string] = { state: m[2] as string, seq: m[3] === undefined ? null : Number(m[3]) };
  }
  return out;
}

/** The node state a heartbeat received at `at` describes: a slot per track it names. */
export function toNodeState(hb: Heartbeat, at: number, channel?: HeardOn): NodeState {
  const states = readApplyState(hb.apply_state);
  const tracks: Record<string, TrackState> = {};
  for (const track of new Set([...Object.keys(hb.versions), ...Object.keys(states)])) {
    tracks[track] = {
      version: hb.versions[track] ?? null,
      seq: states[track]?.seq ?? null,
      apply: states[track]?.state ?? IDLE,
      reason: hb.apply_reason?.[track] || null,
      codeHash: hb.code_hash[track] ?? null,
      ...(hb.roles?.[track] ? { role: hb.roles[track] } : {}),
    };
  }
  return {
    node: hb.node, heardAt: at, labels: hb.labels, health: hb.health, errorRate: hb.error_rate,
    smoke: hb.smoke ? { regressed: hb.smoke.regressed, detail: hb.smoke.detail } : null, tracks,
    ...(channel === undefined ? {} : { channel }),
  };
}
