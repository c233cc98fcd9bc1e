// The fleet read model over SQLite (migration 8): each node's current state, replaced
// whole by its next heartbeat. Implements core/ports.ts FleetStateStore.
import type { FleetStateStore } from '../../core/store-ports.js';
import type { AppHealth, HeardOn, NodeState, TrackState } from '../../core/node-state.js';
import type { Db } from './db.js';

interface NodeRow {
  node: string; heard_at: number; labels: string; health: AppHealth; error_rate: number | null;
  smoke_regressed: number | null; smoke_detail: string | null; channel: HeardOn | null;
}
interface TrackRow {
  node: string; track: string; version: string | null; seq: number | null; apply: string; reason: string | null; code_hash: string | null; role: 'canary' | null;
}

export class FleetStateTable implements FleetStateStore {
  constructor(private readonly db: Db) {}

  async record(states: readonly NodeState[]): Promise<void> {
    this.recordNow(states);
  }

  private recordNow(states: readonly NodeState[]): void {
    if (states.length === 0) return;
    const upsert = this.db.prepare(`INSERT INTO fleet_nodes (node, heard_at, labels, health, error_rate, smoke_regressed, smoke_detail, channel)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(node) DO UPDATE SET heard_at = excluded.heard_at, labels = excluded.labels,
      health = excluded.health, error_rate = excluded.error_rate, smoke_regressed = excluded.smoke_regressed, smoke_detail = excluded.smoke_detail,
      channel = excluded.channel`);
    const clear = this.db.prepare('DELETE FROM fleet_tracks WHERE node = ?');
    const track = this.db.prepare('INSERT INTO fleet_tracks (node, track, version, seq, apply, reason, code_hash, role) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    // one transaction (one fsync) for a whole round of heartbeats
    this.db.transaction(() => {
      for (const s of states) {
        const smoke = s.smoke === null ? null : s.smoke.regressed ? 1 : 0;
        upsert.run(s.node, s.heardAt, JSON.stringify(s.labels), s.health, s.errorRate, smoke, s.smoke?.detail ?? null, s.channel ?? null);
        clear.run(s.node);
        for (const [name, t] of Object.entries(s.tracks)) track.run(s.node, name, t.version, t.seq, t.apply, t.reason, t.codeHash, t.role ?? null);
      }
    })();
  }

  async touch(seen: ReadonlyArray<{ node: string; heardAt: number }>): Promise<void> {
    if (seen.length === 0) return;
    const update = this.db.prepare('UPDATE fleet_nodes SET heard_at = ? WHERE node = ? AND heard_at < ?');
    this.db.transaction(() => {
      for (const s of seen) update.run(s.heardAt, s.node, s.heardAt);
    })();
  }

  async nodes(): Promise<NodeState[]> {
    return this.nodesNow();
  }

  /** Sorted by node id. */
  private nodesNow(): NodeState[] {
    const rows = this.db.prepare('SELECT * FROM fleet_nodes ORDER BY node').all() as NodeRow[];
    const tracks = this.db.prepare('SELECT * FROM fleet_tracks ORDER BY node, track').all() as TrackRow[];
    return assemble(rows, tracks);
  }

  async node(id: string): Promise<NodeState | null> {
    const row = this.db.prepare('SELECT * FROM fleet_nodes WHERE node = ?').get(id) as NodeRow | undefined;
    if (!row) return null;
    const tracks = this.db.prepare('SELECT * FROM fleet_tracks WHERE node = ? ORDER BY track').all(id) as TrackRow[];
    return assemble([row], tracks)[0] ?? null;
  }

  async forget(before: number): Promise<number> {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM fleet_tracks WHERE node IN (SELECT node FROM fleet_nodes WHERE heard_at < ?)').run(before);
      return this.db.prepare('DELETE FROM fleet_nodes WHERE heard_at < ?').run(before).changes;
    })();
  }
}

function assemble(rows: NodeRow[], trackRows: TrackRow[]): NodeState[] {
  const byNode = new Map<string, Record<string, TrackState>>();
  for (const t of trackRows) {
    const tracks = byNode.get(t.node) ?? {};
    tracks[t.track] = { version: t.version, seq: t.seq, apply: t.apply, reason: t.reason, codeHash: t.code_hash, ...(t.role ? { role: t.role } : {}) };
    byNode.set(t.node, tracks);
  }
  return rows.map((r) => ({
    node: r.node, heardAt: r.heard_at, labels: JSON.parse(r.labels) as Record<string, string>, health: r.health, errorRate: r.error_rate,
    smoke: r.smoke_regressed === null ? null : { regressed: r.smoke_regressed === 1, detail: r.smoke_detail ?? '' },
    tracks: byNode.get(r.node) ?? {},
    ...(r.channel === null ? {} : { channel: r.channel }),
  }));
}
