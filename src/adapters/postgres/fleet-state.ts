// The fleet read model over PostgreSQL (migration 3's fleet_nodes and fleet_tracks): each
// node's current state, replaced whole by its next heartbeat. Same rows as SQLite's
// (adapters/sqlite/fleet-state.ts), with a boolean smoke flag and the node's channel.
import type { FleetStateStore } from '../../core/store-ports.js';
import type { AppHealth, NodeState, TrackState } from '../../core/node-state.js';
import type { PgSession } from './session.js';
import { num, numOrNull } from './seq-line.js';

interface NodeRow {
  node: string; heard_at: string; labels: string; health: AppHealth; error_rate: number | null;
  smoke_regressed: boolean | null; smoke_detail: string | null; channel: string | null;
}
interface TrackRow {
  node: string; track: string; version: string | null; seq: string | null; apply: string; reason: string | null;
  code_hash: string | null; role: 'canary' | null;
}
/** The channel a node was last heard on, once node-state.ts carries it (kept if present). */
type WithChannel = NodeState & { channel?: string | null };

export class PgFleetState implements FleetStateStore {
  constructor(private readonly session: PgSession, readonly now: () => number) {}

  async record(states: readonly NodeState[]): Promise<void> {
    if (states.length === 0) return;
    // one transaction for a whole round of heartbeats, as SQLite's one fsync
    await this.session.write(async (q) => {
      for (const s of states as readonly WithChannel[]) {
        const smoke = s.smoke === null ? null : s.smoke.regressed;
        await q.query(`INSERT INTO fleet_nodes (node, heard_at, labels, health, error_rate, smoke_regressed, smoke_detail, channel)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (node) DO UPDATE SET heard_at = excluded.heard_at,
          labels = excluded.labels, health = excluded.health, error_rate = excluded.error_rate,
          smoke_regressed = excluded.smoke_regressed, smoke_detail = excluded.smoke_detail, channel = excluded.channel`,
        [s.node, s.heardAt, JSON.stringify(s.labels), s.health, s.errorRate, smoke, s.smoke?.detail ?? null, s.channel ?? null]);
        await q.query('DELETE FROM fleet_tracks WHERE node = $1', [s.node]);
        for (const [name, t] of Object.entries(s.tracks)) {
          await q.query(`INSERT INTO fleet_tracks (node, track, version, seq, apply, reason, code_hash, role)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [s.node, name, t.version, t.seq, t.apply, t.reason, t.codeHash, t.role ?? null]);
        }
      }
    });
  }

  /** Sorted by node id (byte order, as SQLite's). */
  async nodes(): Promise<NodeState[]> {
    return this.session.read(async (q) => {
      const rows = await q.query<NodeRow>('SELECT * FROM fleet_nodes ORDER BY node COLLATE "C"');
      const tracks = await q.query<TrackRow>('SELECT * FROM fleet_tracks ORDER BY node COLLATE "C", track COLLATE "C"');
      return assemble(rows.rows, tracks.rows);
    });
  }

  async node(id: string): Promise<NodeState | null> {
    return this.session.read(async (q) => {
      const row = (await q.query<NodeRow>('SELECT * FROM fleet_nodes WHERE node = $1', [id])).rows[0];
      if (!row) return null;
      const tracks = await q.query<TrackRow>('SELECT * FROM fleet_tracks WHERE node = $1 ORDER BY track COLLATE "C"', [id]);
      return assemble([row], tracks.rows)[0] ?? null;
    });
  }

  /** Its tracks go with it (ON DELETE CASCADE). */
  async forget(before: number): Promise<number> {
    return this.session.write(async (q) => (await q.query('DELETE FROM fleet_nodes WHERE heard_at < $1', [before])).rowCount ?? 0);
  }
}

function assemble(rows: NodeRow[], trackRows: TrackRow[]): NodeState[] {
  const byNode = new Map<string, Record<string, TrackState>>();
  for (const t of trackRows) {
    const tracks = byNode.get(t.node) ?? {};
    tracks[t.track] = {
      version: t.version, seq: numOrNull(t.seq), apply: t.apply, reason: t.reason, codeHash: t.code_hash, ...(t.role ? { role: t.role } : {}),
    };
    byNode.set(t.node, tracks);
  }
  return rows.map((r) => ({
    node: r.node, heardAt: num(r.heard_at), labels: JSON.parse(r.labels) as Record<string, string>, health: r.health, errorRate: r.error_rate,
    smoke: r.smoke_regressed === null ? null : { regressed: r.smoke_regressed, detail: r.smoke_detail ?? '' },
    tracks: byNode.get(r.node) ?? {},
    ...(r.channel !== null ? { channel: r.channel } : {}),
  }));
}
