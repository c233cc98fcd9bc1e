// Smaller record kinds of the state store, each over the same database.
import { UpshiftError } from '../../core/errors.js';
import type { Db } from './db.js';
import { importedManifestPrefix } from '../../core/store-ports.js';
import type { ApprovalRecord, BenchmarkRecord, EventRecord, ManifestPurpose, ManifestRecord, RunCommand } from '../../core/records.js';

export type { ApprovalRecord, RunCommand } from '../../core/records.js';

/** Append to the event log (append-only: triggers refuse UPDATE and DELETE). */
export function insertEvent(db: Db, e: Omit<EventRecord, 'seq'>): void {
  db.prepare('INSERT INTO events (at, run_id, stage, kind, actor, data) VALUES (?, ?, ?, ?, ?, ?)').run(e.at, e.runId, e.stage, e.kind, e.actor, JSON.stringify(e.data));
}

/** An approval with its `run.approved` event; the caller holds the transaction. */
export function approve(db: Db, runId: string, by: string, reason: string, at: number, data: Record<string, unknown> = {}): void {
  db.prepare('INSERT OR REPLACE INTO approvals (run_id, by, reason, at) VALUES (?, ?, ?, ?)').run(runId, by, reason, at);
  insertEvent(db, { at, runId, stage: 'audit', kind: 'run.approved', actor: by, data: { reason, ...data } });
}

/**
 * The next seq of a track's one seq line: the pipeline's manifests and the ones deployments
 * sign (migration 9) take their numbers from it. The caller holds the write transaction.
 */
export function nextManifestSeq(db: Db, track: string): number {
  const prefix = importedManifestPrefix(track);
  const max = db.prepare(`SELECT MAX(s) FROM (SELECT MAX(seq) AS s FROM manifests WHERE track = ?
    UNION ALL SELECT MAX(seq) FROM deployment_manifests WHERE track = ?
    UNION ALL SELECT MAX(CAST(substr(key, length(?) + 1) AS INTEGER)) FROM kv WHERE substr(key, 1, length(?)) = ?)`)
    .pluck().get(track, track, prefix, prefix, prefix) as number | null;
  return (max ?? 0) + 1;
}

/** What this store holds at (track, seq) of the seq line, compared with an imported envelope. */
type Held = 'same' | 'different' | 'missing';

function heldAt(db: Db, track: string, seq: number, payload: Uint8Array, envelope: string): Held {
  const rows = [
    db.prepare('SELECT payload, envelope FROM manifests WHERE track = ? AND seq = ?').get(track, seq),
    db.prepare('SELECT payload, envelope FROM deployment_manifests WHERE track = ? AND seq = ?').get(track, seq),
  ] as Array<{ payload: Buffer; envelope: string | null } | undefined>;
  for (const r of rows) {
    if (!r) continue;
    // a reserved payload not yet signed is the same manifest: signing it gives these bytes
    const same = r.envelope === envelope || (r.envelope === null && r.payload.equals(Buffer.from(payload)));
    return same ? 'same' : 'different';
  }
  const kept = importedAt(db, track, seq);
  return kept === null ? 'missing' : kept === envelope ? 'same' : 'different';
}

function importedAt(db: Db, track: string, seq: number): string | null {
  const key = importedManifestPrefix(track) + seq;
  return (db.prepare('SELECT value FROM kv WHERE key = ?').pluck().get(key) as string | undefined) ?? null;
}

export class ManifestTable {
  constructor(private readonly db: Db) {}

  forRun(runId: string, purpose: ManifestPurpose): ManifestRecord | null {
    const r = this.db.prepare('SELECT * FROM manifests WHERE run_id = ? AND purpose = ?').get(runId, purpose) as Record<string, unknown> | undefined;
    return r ? toManifest(r) : null;
  }

  get(track: string, seq: number): ManifestRecord | null {
    const r = this.db.prepare('SELECT * FROM manifests WHERE track = ? AND seq = ?').get(track, seq) as Record<string, unknown> | undefined;
    return r ? toManifest(r) : null;
  }

  list(track?: string): ManifestRecord[] {
    const rows = track ? this.db.prepare('SELECT * FROM manifests WHERE track = ? ORDER BY seq').all(track) : this.db.prepare('SELECT * FROM manifests ORDER BY track, seq').all();
    return (rows as Record<string, unknown>[]).map(toManifest);
  }

  latestSigned(track: string): ManifestRecord | null {
    const r = this.db.prepare('SELECT * FROM manifests WHERE track = ? AND envelope IS NOT NULL ORDER BY seq DESC LIMIT 1').get(track) as Record<string, unknown> | undefined;
    return r ? toManifest(r) : null;
  }

  /**
   * Versions released on a track: a release manifest (any purpose) was signed for them by a
   * run that was not rolled back. `exceptRun` leaves one run out (the run asking).
   */
  releasedVersions(track: string, exceptRun = ''): string[] {
    return this.db.prepare(`SELECT DISTINCT m.version FROM manifests m JOIN runs r ON r.id = m.run_id
      WHERE m.track = ? AND m.kind = 'release' AND m.envelope IS NOT NULL
        AND r.status != 'rolled_back' AND m.run_id != ?`).pluck().all(track, exceptRun) as string[];
  }

  /**
   * Reserve the next seq of a track for a run and fix its payload bytes, once. A run that
   * already reserved gets its existing record back, so a resumed SIGN re-signs the same
   * bytes (Ed25519 is deterministic) and never a second manifest for the same (track, seq).
   */
  reserve(r: { runId: string; track: string; kind: 'release' | 'rollback'; purpose: ManifestPurpose; version: string; commit: string; at: number; build: (seq: number) => Uint8Array }): ManifestRecord {
    return this.db.transaction(() => {
      const existing = this.forRun(r.runId, r.purpose);
      if (existing) return existing;
      const seq = nextManifestSeq(this.db, r.track);
      const payload = r.build(seq);
      this.db.prepare('INSERT INTO manifests (track, seq, run_id, kind, purpose, version, commit_sha, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(r.track, seq, r.runId, r.kind, r.purpose, r.version, r.commit, Buffer.from(payload), r.at);
      return this.get(r.track, seq) as ManifestRecord;
    }).immediate();
  }

  importSigned(track: string, seq: number, payload: Uint8Array, envelope: string): 'stored' | 'same' {
    return this.db.transaction(() => {
      const held = heldAt(this.db, track, seq, payload, envelope);
      if (held === 'same') return 'same';
      if (held === 'different') {
        throw new UpshiftError('E_SEQ_CONFLICT', `the store holds a different manifest for ${track}#${seq}`, { details: { track, seq } });
      }
      this.db.prepare('INSERT INTO kv (key, value) VALUES (?, ?)').run(importedManifestPrefix(track) + seq, envelope);
      return 'stored';
    }).immediate();
  }

  imported(track: string, seq: number): string | null {
    return importedAt(this.db, track, seq);
  }

  setEnvelope(track: string, seq: number, envelope: string): void {
    const res = this.db.prepare('UPDATE manifests SET envelope = ? WHERE track = ? AND seq = ?').run(envelope, track, seq);
    if (res.changes !== 1) throw new UpshiftError('E_SEQ_CONFLICT', `no reserved manifest ${track}#${seq} to attach a signature to`);
  }
}

const toManifest = (r: Record<string, unknown>): ManifestRecord => ({
  track: r.track as string, seq: r.seq as number, runId: r.run_id as string, kind: r.kind as 'release' | 'rollback', purpose: r.purpose as ManifestPurpose,
  version: r.version as string, commit: r.commit_sha as string, payload: new Uint8Array(r.payload as Buffer),
  envelope: (r.envelope as string | null) ?? null, createdAt: r.created_at as number,
});

export class BenchmarkTable {
  constructor(private readonly db: Db) {}

  save(b: BenchmarkRecord): void {
    this.db.prepare(`INSERT INTO benchmark_snapshots (run_id, suite, track, version, commit_sha, metrics, samples, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(run_id, suite) DO NOTHING`).run(b.runId, b.suite, b.track, b.version, b.commit, JSON.stringify(b.metrics), JSON.stringify(b.samples), b.createdAt);
  }

  forRun(runId: string): BenchmarkRecord[] {
    return (this.db.prepare('SELECT * FROM benchmark_snapshots WHERE run_id = ? ORDER BY suite').all(runId) as Record<string, unknown>[]).map(toBenchmark);
  }

  list(opts: { track?: string; limit?: number } = {}): BenchmarkRecord[] {
    const rows = opts.track
      ? this.db.prepare('SELECT * FROM benchmark_snapshots WHERE track = ? ORDER BY created_at DESC LIMIT ?').all(opts.track, opts.limit ?? 100)
      : this.db.prepare('SELECT * FROM benchmark_snapshots ORDER BY created_at DESC LIMIT ?').all(opts.limit ?? 100);
    return (rows as Record<string, unknown>[]).map(toBenchmark);
  }
}

const toBenchmark = (r: Record<string, unknown>): BenchmarkRecord => ({
  runId: r.run_id as string, suite: r.suite as string, track: r.track as string, version: r.version as string, commit: r.commit_sha as string,
  metrics: JSON.parse(r.metrics as string) as BenchmarkRecord['metrics'], samples: JSON.parse(r.samples as string) as unknown[], createdAt: r.created_at as number,
});

export class FloorTable {
  constructor(private readonly db: Db) {}

  get(track: string): number | null {
    return (this.db.prepare('SELECT seq FROM floors WHERE track = ?').pluck().get(track) as number | undefined) ?? null;
  }

  /** Raise the floor; it never goes down. */
  raise(track: string, seq: number, at: number): void {
    this.db.prepare('INSERT INTO floors (track, seq, updated_at) VALUES (?, ?, ?) ON CONFLICT(track) DO UPDATE SET seq = MAX(seq, excluded.seq), updated_at = excluded.updated_at')
      .run(track, seq, at);
  }

  all(): Record<string, number> {
    return Object.fromEntries((this.db.prepare('SELECT track, seq FROM floors').all() as Array<{ track: string; seq: number }>).map((r) => [r.track, r.seq]));
  }
}

export class ApprovalTable {
  constructor(private readonly db: Db) {}

  approve(runId: string, by: string, reason: string, at: number): void {
    this.db.transaction(() => approve(this.db, runId, by, reason, at))();
  }

  get(runId: string): ApprovalRecord | null {
    return (this.db.prepare('SELECT by, reason, at FROM approvals WHERE run_id = ?').get(runId) as ApprovalRecord | undefined) ?? null;
  }
}

export class CommandTable {
  constructor(private readonly db: Db) {}

  enqueue(c: Omit<RunCommand, 'id'>): number {
    return Number(this.db.prepare('INSERT INTO run_commands (run_id, kind, reason, by, at) VALUES (?, ?, ?, ?, ?)').run(c.runId, c.kind, c.reason, c.by, c.at).lastInsertRowid);
  }

  pending(runId: string): RunCommand[] {
    return (this.db.prepare('SELECT id, run_id, kind, reason, by, at FROM run_commands WHERE run_id = ? AND consumed_at IS NULL ORDER BY id').all(runId) as Array<Record<string, unknown>>)
      .map((r) => ({ id: r.id as number, runId: r.run_id as string, kind: r.kind as 'abort', reason: r.reason as string, by: r.by as string, at: r.at as number }));
  }

  consume(id: number, at: number): void {
    this.db.prepare('UPDATE run_commands SET consumed_at = ? WHERE id = ?').run(at, id);
  }
}

export class KvTable {
  constructor(private readonly db: Db) {}
  get(key: string): string | null {
    return (this.db.prepare('SELECT value FROM kv WHERE key = ?').pluck().get(key) as string | undefined) ?? null;
  }
  set(key: string, value: string): void {
    this.db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }
  setMany(entries: Record<string, string>): void {
    this.db.transaction(() => {
      for (const [key, value] of Object.entries(entries)) this.set(key, value);
    })();
  }
  withPrefix(prefix: string): string[] {
    // every key that starts with prefix sorts at or after it and before prefix with its last character bumped
    const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    return this.db.prepare('SELECT value FROM kv WHERE key >= ? AND key < ? ORDER BY key').pluck().all(prefix, end) as string[];
  }
}
