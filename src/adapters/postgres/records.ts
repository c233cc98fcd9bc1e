// Manifests (reservations and envelopes), benchmark snapshots, floors, approvals, commands
// and kv on PostgreSQL, with the SQLite store's semantics (adapters/sqlite/records.ts).
import { UpshiftError } from '../../core/errors.js';
import type { ApprovalRecord, BenchmarkRecord, ManifestPurpose, ManifestRecord, RunCommand } from '../../core/records.js';
import { importedManifestPrefix, type ManifestReservation } from '../../core/store-ports.js';
import type { PgSession, Queryable } from './session.js';
import { approve } from './runs.js';
import { all, lockTrackSeqs, nextManifestSeq, num, numOrNull, one, type Row } from './sql.js';

const toManifest = (r: Row): ManifestRecord => ({
  track: r.track as string, seq: num(r.seq), runId: r.run_id as string, kind: r.kind as 'release' | 'rollback',
  purpose: r.purpose as ManifestPurpose, version: r.version as string, commit: r.commit_sha as string,
  payload: new Uint8Array(r.payload as Buffer), envelope: (r.envelope as string | null) ?? null,
  createdAt: num(r.created_at),
});

async function forRun(q: Queryable, runId: string, purpose: ManifestPurpose): Promise<ManifestRecord | null> {
  const r = await one(q, 'SELECT * FROM manifests WHERE run_id = $1 AND purpose = $2', [runId, purpose]);
  return r ? toManifest(r) : null;
}

/** What this store holds at (track, seq) of the seq line, compared with an imported envelope. */
async function heldAt(
  q: Queryable, track: string, seq: number, payload: Uint8Array, envelope: string,
): Promise<'same' | 'different' | 'missing'> {
  for (const table of ['manifests', 'deployment_manifests']) {
    const r = await one(q, `SELECT payload, envelope FROM ${table} WHERE track = $1 AND seq = $2`, [track, seq]);
    if (!r) continue;
    // a reserved payload not yet signed is the same manifest: signing it gives these bytes
    const same = r.envelope === envelope || (r.envelope === null && (r.payload as Buffer).equals(Buffer.from(payload)));
    return same ? 'same' : 'different';
  }
  const kept = await one(q, 'SELECT value FROM kv WHERE key = $1', [importedManifestPrefix(track) + seq]);
  return !kept ? 'missing' : kept.value === envelope ? 'same' : 'different';
}

export class PgManifests {

  constructor(private readonly s: PgSession) {}

  forRun(runId: string, purpose: ManifestPurpose): Promise<ManifestRecord | null> {
    return this.s.read((q) => forRun(q, runId, purpose));
  }

  get(track: string, seq: number): Promise<ManifestRecord | null> {
    return this.s.read(async (q) => {
      const r = await one(q, 'SELECT * FROM manifests WHERE track = $1 AND seq = $2', [track, seq]);
      return r ? toManifest(r) : null;
    });
  }

  list(track?: string): Promise<ManifestRecord[]> {
    return this.s.read(async (q) => (track
      ? await all(q, 'SELECT * FROM manifests WHERE track = $1 ORDER BY seq', [track])
      : await all(q, 'SELECT * FROM manifests ORDER BY track, seq')).map(toManifest));
  }

  latestSigned(track: string): Promise<ManifestRecord | null> {
    return this.s.read(async (q) => {
      const r = await one(q,
        'SELECT * FROM manifests WHERE track = $1 AND envelope IS NOT NULL ORDER BY seq DESC LIMIT 1', [track]);
      return r ? toManifest(r) : null;
    });
  }

  releasedVersions(track: string, exceptRun = ''): Promise<string[]> {
    return this.s.read(async (q) => (await all(q, `SELECT DISTINCT m.version FROM manifests m JOIN runs r ON r.id = m.run_id
      WHERE m.track = $1 AND m.kind = 'release' AND m.envelope IS NOT NULL AND r.status != 'rolled_back' AND m.run_id != $2`,
    [track, exceptRun])).map((r) => r.version as string));
  }

  /**
   * The next seq of a track for a run, once, under the track's seq lock (so two writers never
   * take the same seq); a run that reserved gets its record back and `build` is not called.
   */
  reserve(r: ManifestReservation): Promise<ManifestRecord> {
    return this.s.write(async (q) => {
      await lockTrackSeqs(q, r.track);
      const existing = await forRun(q, r.runId, r.purpose);
      if (existing) return existing;
      const seq = await nextManifestSeq(q, r.track);
      const payload = r.build(seq);
      const row = await one(q, `INSERT INTO manifests (track, seq, run_id, kind, purpose, version, commit_sha, payload, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
      [r.track, seq, r.runId, r.kind, r.purpose, r.version, r.commit, Buffer.from(payload), r.at]);
      return toManifest(row as Row);
    });
  }

  importSigned(track: string, seq: number, payload: Uint8Array, envelope: string): Promise<'stored' | 'same'> {
    return this.s.write(async (q) => {
      await lockTrackSeqs(q, track);
      const held = await heldAt(q, track, seq, payload, envelope);
      if (held === 'same') return 'same';
      if (held === 'different') {
        throw new UpshiftError('E_SEQ_CONFLICT', `the store holds a different manifest for ${track}#${seq}`, { details: { track, seq } });
      }
      await q.query('INSERT INTO kv (key, value) VALUES ($1, $2)', [importedManifestPrefix(track) + seq, envelope]);
      return 'stored';
    });
  }

  imported(track: string, seq: number): Promise<string | null> {
    const key = importedManifestPrefix(track) + seq;
    return this.s.read(async (q) => ((await one(q, 'SELECT value FROM kv WHERE key = $1', [key]))?.value as string | undefined) ?? null);
  }

  async setEnvelope(track: string, seq: number, envelope: string): Promise<void> {
    const res = await this.s.write((q) => q.query('UPDATE manifests SET envelope = $1 WHERE track = $2 AND seq = $3',
      [envelope, track, seq]));
    if (res.rowCount !== 1) {
      throw new UpshiftError('E_SEQ_CONFLICT', `no reserved manifest ${track}#${seq} to attach a signature to`);
    }
  }
}

const toBenchmark = (r: Row): BenchmarkRecord => ({
  runId: r.run_id as string, suite: r.suite as string, track: r.track as string, version: r.version as string,
  commit: r.commit_sha as string, metrics: JSON.parse(r.metrics as string) as BenchmarkRecord['metrics'],
  samples: JSON.parse(r.samples as string) as unknown[],
  createdAt: num(r.created_at),
});

export class PgBenchmarks {
  constructor(private readonly s: PgSession) {}

  async save(b: BenchmarkRecord): Promise<void> {
    await this.s.write((q) => q.query(`INSERT INTO benchmark_snapshots
      (run_id, suite, track, version, commit_sha, metrics, samples, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
      ON CONFLICT (run_id, suite) DO NOTHING`,
    [b.runId, b.suite, b.track, b.version, b.commit, JSON.stringify(b.metrics), JSON.stringify(b.samples), b.createdAt]));
  }

  forRun(runId: string): Promise<BenchmarkRecord[]> {
    return this.s.read(async (q) => (await all(q,
      'SELECT * FROM benchmark_snapshots WHERE run_id = $1 ORDER BY suite', [runId])).map(toBenchmark));
  }

  list(opts: { track?: string; limit?: number } = {}): Promise<BenchmarkRecord[]> {
    const limit = opts.limit ?? 100;
    return this.s.read(async (q) => (opts.track
      ? await all(q, 'SELECT * FROM benchmark_snapshots WHERE track = $1 ORDER BY created_at DESC LIMIT $2', [opts.track, limit])
      : await all(q, 'SELECT * FROM benchmark_snapshots ORDER BY created_at DESC LIMIT $1', [limit])).map(toBenchmark));
  }
}

export class PgFloors {
  constructor(private readonly s: PgSession) {}

  get(track: string): Promise<number | null> {
    return this.s.read(async (q) => numOrNull((await one(q, 'SELECT seq FROM floors WHERE track = $1', [track]))?.seq));
  }

  /** Raise the floor; it never goes down. */
  async raise(track: string, seq: number, at: number): Promise<void> {
    await this.s.write((q) => q.query(`INSERT INTO floors (track, seq, updated_at) VALUES ($1, $2, $3)
      ON CONFLICT (track) DO UPDATE SET seq = GREATEST(floors.seq, excluded.seq), updated_at = excluded.updated_at`,
    [track, seq, at]));
  }

  all(): Promise<Record<string, number>> {
    return this.s.read(async (q) => Object.fromEntries((await all(q, 'SELECT track, seq FROM floors'))
      .map((r) => [r.track as string, num(r.seq)])));
  }
}

export class PgApprovals {
  constructor(private readonly s: PgSession) {}

  async approve(runId: string, by: string, reason: string, at: number): Promise<void> {
    await this.s.write((q) => approve(q, runId, by, reason, at));
  }

  get(runId: string): Promise<ApprovalRecord | null> {
    return this.s.read(async (q) => {
      const r = await one(q, 'SELECT "by", reason, at FROM approvals WHERE run_id = $1', [runId]);
      return r ? { by: r.by as string, reason: r.reason as string, at: num(r.at) } : null;
    });
  }
}

export class PgCommands {
  constructor(private readonly s: PgSession) {}

  enqueue(c: Omit<RunCommand, 'id'>): Promise<number> {
    return this.s.write(async (q) => num((await one(q,
      'INSERT INTO run_commands (run_id, kind, reason, "by", at) VALUES ($1, $2, $3, $4, $5) RETURNING id',
      [c.runId, c.kind, c.reason, c.by, c.at]))?.id));
  }

  pending(runId: string): Promise<RunCommand[]> {
    return this.s.read(async (q) => (await all(q,
      'SELECT id, run_id, kind, reason, "by", at FROM run_commands WHERE run_id = $1 AND consumed_at IS NULL ORDER BY id',
      [runId])).map((r) => ({
      id: num(r.id), runId: r.run_id as string, kind: r.kind as 'abort', reason: r.reason as string, by: r.by as string,
      at: num(r.at),
    })));
  }

  async consume(id: number, at: number): Promise<void> {
    await this.s.write((q) => q.query('UPDATE run_commands SET consumed_at = $1 WHERE id = $2', [at, id]));
  }
}

const KV_SET = 'INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value';

export class PgKv {
  constructor(private readonly s: PgSession) {}

  get(key: string): Promise<string | null> {
    return this.s.read(async (q) => ((await one(q, 'SELECT value FROM kv WHERE key = $1', [key]))?.value as string | undefined)
      ?? null);
  }

  async set(key: string, value: string): Promise<void> {
    await this.s.write((q) => q.query(KV_SET, [key, value]));
  }

  async setMany(entries: Record<string, string>): Promise<void> {
    await this.s.write(async (q) => {
      for (const [key, value] of Object.entries(entries)) {
        await q.query(KV_SET, [key, value]);
      }
    });
  }

  /** Every key that starts with `prefix`, in byte order (the key's "C" collation, as SQLite sorts). */
  withPrefix(prefix: string): Promise<string[]> {
    return this.s.read(async (q) => (await all(q,
      'SELECT value FROM kv WHERE left(key, char_length($1)) = $1 ORDER BY key', [prefix])).map((r) => r.value as string));
  }
}
