// Runs, retries, driver leases and persisted machine snapshots on PostgreSQL: each method is
// one read or one write transaction of the session, with the SQLite store's semantics
// (adapters/sqlite/runs.ts). Where SQLite's IMMEDIATE transaction serialized a
// read-then-write, the run's row is locked FOR UPDATE first.
import type { Run, RunStatus } from '../../core/run.js';
import type { FirstSnapshot, NewRun, SavedSnapshot, SnapshotWrite } from '../../core/store-ports.js';
import { UpshiftError } from '../../core/errors.js';
import type { PgSession, Queryable } from './session.js';
import { all, insertEvent, num, numOrNull, one, type Row } from './sql.js';

const toRun = (r: Row): Run => ({
  id: r.id as string, track: r.track as string, version: r.version as string, ref: r.ref as string,
  commit: r.commit_sha as string, status: r.status as RunStatus, stage: r.stage as string,
  reason: r.reason as string | null, code: r.code as string | null, retryOf: r.retry_of as string | null,
  createdAt: num(r.created_at), updatedAt: num(r.updated_at), finishedAt: numOrNull(r.finished_at),
});

const RUN_COLUMNS = 'id, track, version, ref, commit_sha, status, stage, reason, code, retry_of, '
  + 'created_at, updated_at, finished_at';

export async function getRun(q: Queryable, id: string): Promise<Run | null> {
  const r = await one(q, `SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`, [id]);
  return r ? toRun(r) : null;
}

async function findRetry(q: Queryable, runId: string): Promise<Run | null> {
  const columns = RUN_COLUMNS.split(', ').map((c) => `runs.${c}`).join(', ');
  const r = await one(q, `SELECT ${columns} FROM run_retries JOIN runs ON runs.id = run_retries.run_id
    WHERE run_retries.retry_of = $1`, [runId]);
  return r ? toRun(r) : null;
}

/** The snapshot with the run's status, and a `run.state` event when the state changed; in the caller's transaction. */
export async function saveSnapshot(q: Queryable, s: SnapshotWrite): Promise<void> {
  const prev = (await one(q, 'SELECT stage FROM runs WHERE id = $1 FOR UPDATE', [s.runId]))?.stage as string | undefined;
  await q.query(`INSERT INTO snapshots (run_id, machine_version, state, snapshot, updated_at) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (run_id) DO UPDATE SET machine_version = excluded.machine_version, state = excluded.state,
      snapshot = excluded.snapshot, updated_at = excluded.updated_at`,
  [s.runId, s.machineVersion, s.state, JSON.stringify(s.snapshot), s.at]);
  const terminal = s.status === 'completed' || s.status === 'failed' || s.status === 'rolled_back';
  await q.query(`UPDATE runs SET status = $1, stage = $2, reason = $3, code = $4, updated_at = $5,
    finished_at = COALESCE(finished_at, $6) WHERE id = $7`,
  [s.status, s.state, s.reason, s.code, s.at, terminal ? s.at : null, s.runId]);
  if (prev !== s.state) {
    await insertEvent(q, { at: s.at, runId: s.runId, stage: null, kind: 'run.state', actor: 'pipeline',
      data: { from: prev ?? null, to: s.state, status: s.status, reason: s.reason } });
  }
}

/** A run, with its idle snapshot and `run.created` event when `first` is given; in the caller's transaction. */
async function insertRun(q: Queryable, r: NewRun, first?: FirstSnapshot): Promise<Run> {
  await q.query(`INSERT INTO runs (id, track, version, ref, commit_sha, status, stage, retry_of, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, 'pending', 'idle', $6, $7, $7)`,
  [r.id, r.track, r.version, r.ref, r.commit, r.retryOf, r.createdAt]);
  if (first) {
    const { machineVersion, snapshot, at } = first;
    const idle = { runId: r.id, machineVersion, state: 'idle', status: 'pending' as const, snapshot, reason: null, code: null, at };
    await saveSnapshot(q, idle);
    const data = { track: r.track, version: r.version, ref: r.ref, commit: r.commit, retry_of: r.retryOf };
    await insertEvent(q, { at, runId: r.id, stage: null, kind: 'run.created', actor: 'pipeline', data });
  }
  return await getRun(q, r.id) as Run;
}

/** An approval (replacing any) with its `run.approved` event; in the caller's transaction. */
export async function approve(
  q: Queryable, runId: string, by: string, reason: string, at: number, data: Record<string, unknown> = {},
): Promise<void> {
  await q.query(`INSERT INTO approvals (run_id, "by", reason, at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (run_id) DO UPDATE SET "by" = excluded."by", reason = excluded.reason, at = excluded.at`,
  [runId, by, reason, at]);
  await insertEvent(q, { at, runId, stage: 'audit', kind: 'run.approved', actor: by, data: { reason, ...data } });
}

export class PgRuns {
  constructor(private readonly s: PgSession) {}

  createRun(r: NewRun, first?: FirstSnapshot): Promise<Run> {
    return this.s.write((q) => insertRun(q, r, first));
  }

  /** The original run's row is locked first: approvals of one run take turns, and the first makes the retry. */
  async createRetry(
    r: NewRun & { retryOf: string }, first: FirstSnapshot, approval: { by: string; reason: string },
  ): Promise<{ run: Run; created: boolean }> {
    try {
      return await this.s.write(async (q) => {
        await q.query('SELECT 1 FROM runs WHERE id = $1 FOR UPDATE', [r.retryOf]);
        const existing = await findRetry(q, r.retryOf);
        if (existing) return { run: existing, created: false };
        const run = await insertRun(q, r, first);
        await approve(q, run.id, approval.by, approval.reason, first.at, { retry_of: r.retryOf });
        return { run, created: true };
      });
    } catch (err) {
      // the one-retry constraint refused a retry made elsewhere meanwhile: that one is the retry
      const raced = (err as { code?: unknown }).code === 'E_DUPLICATE' ? await this.findRetry(r.retryOf) : null;
      if (raced) return { run: raced, created: false };
      throw err;
    }
  }

  getRun(id: string): Promise<Run | null> {
    return this.s.read((q) => getRun(q, id));
  }

  async requireRun(id: string): Promise<Run> {
    const run = await this.getRun(id);
    if (!run) throw new UpshiftError('E_RUN_NOT_FOUND', `no run with id "${id}"`);
    return run;
  }

  findRun(track: string, version: string): Promise<Run | null> {
    return this.s.read(async (q) => {
      const r = await one(q, `SELECT ${RUN_COLUMNS} FROM runs WHERE track = $1 AND version = $2
        ORDER BY created_at DESC, rowid DESC LIMIT 1`, [track, version]);
      return r ? toRun(r) : null;
    });
  }

  listRuns(opts: { track?: string; limit?: number } = {}): Promise<Run[]> {
    const order = 'ORDER BY created_at DESC, rowid DESC';
    return this.s.read(async (q) => (opts.track
      ? await all(q, `SELECT ${RUN_COLUMNS} FROM runs WHERE track = $1 ${order} LIMIT $2`, [opts.track, opts.limit ?? 50])
      : await all(q, `SELECT ${RUN_COLUMNS} FROM runs ${order} LIMIT $1`, [opts.limit ?? 50])).map(toRun));
  }

  findRetry(runId: string): Promise<Run | null> {
    return this.s.read((q) => findRetry(q, runId));
  }

  unfinishedRuns(): Promise<Run[]> {
    return this.s.read(async (q) => (await all(q,
      `SELECT ${RUN_COLUMNS} FROM runs WHERE status IN ('pending','running') ORDER BY created_at, rowid`)).map(toRun));
  }

  versionsSeen(track: string): Promise<string[]> {
    return this.s.read(async (q) => (await all(q, 'SELECT DISTINCT version FROM runs WHERE track = $1', [track]))
      .map((r) => r.version as string));
  }

  lastStable(track: string, before?: string): Promise<Run | null> {
    return this.s.read(async (q) => {
      const r = await one(q, `SELECT ${RUN_COLUMNS} FROM runs WHERE track = $1 AND status = 'completed' AND id != $2
        ORDER BY finished_at DESC, rowid DESC LIMIT 1`, [track, before ?? '']);
      return r ? toRun(r) : null;
    });
  }

  runCounts(): Promise<Array<{ track: string; status: RunStatus; n: number }>> {
    return this.s.read(async (q) => (await all(q,
      'SELECT track, status, COUNT(*)::int AS n FROM runs GROUP BY track, status'))
      .map((r) => ({ track: r.track as string, status: r.status as RunStatus, n: num(r.n) })));
  }

  async ping(): Promise<void> {
    await this.s.read((q) => q.query('SELECT 1'));
  }

  // ---- driver lease: one process drives a run at a time
  acquireLease(
    runId: string, owner: string, pid: number, until: number, now: number, alive: (pid: number) => boolean,
  ): Promise<boolean> {
    const epoch = this.s.epoch?.() ?? null;
    return this.s.write(async (q) => {
      const cur = await one(q, 'SELECT lease_owner, lease_pid, lease_until, lease_epoch FROM runs WHERE id = $1 FOR UPDATE', [runId]);
      if (!cur) throw new UpshiftError('E_RUN_NOT_FOUND', `no run with id "${runId}"`);
      const holder = cur.lease_owner as string | null;
      // a lease taken under an older epoch is a deposed leader's: every write it tries is fenced
      const deposed = epoch !== null && cur.lease_epoch !== null && num(cur.lease_epoch) < epoch;
      const held = holder !== null && holder !== owner && !deposed && (numOrNull(cur.lease_until) ?? 0) > now
        && cur.lease_pid !== null && alive(num(cur.lease_pid));
      if (held) return false;
      await q.query('UPDATE runs SET lease_owner = $1, lease_pid = $2, lease_until = $3, lease_epoch = $4 WHERE id = $5',
        [owner, pid, until, epoch, runId]);
      return true;
    });
  }

  async releaseLease(runId: string, owner: string): Promise<void> {
    await this.s.write((q) => q.query(
      'UPDATE runs SET lease_owner = NULL, lease_pid = NULL, lease_until = NULL, lease_epoch = NULL WHERE id = $1 AND lease_owner = $2',
      [runId, owner]));
  }

  leaseHolder(runId: string): Promise<{ owner: string; pid: number; until: number } | null> {
    return this.s.read(async (q) => {
      const r = await one(q, 'SELECT lease_owner, lease_pid, lease_until FROM runs WHERE id = $1', [runId]);
      if (!r?.lease_owner) return null;
      return { owner: r.lease_owner as string, pid: num(r.lease_pid), until: num(r.lease_until) };
    });
  }

  // ---- snapshots: saved together with the run's status, in one transaction
  async saveSnapshot(s: SnapshotWrite): Promise<void> {
    await this.s.write((q) => saveSnapshot(q, s));
  }

  loadSnapshot(runId: string): Promise<SavedSnapshot | null> {
    return this.s.read(async (q) => {
      const r = await one(q, 'SELECT machine_version, state, snapshot FROM snapshots WHERE run_id = $1', [runId]);
      if (!r) return null;
      const snapshot = JSON.parse(r.snapshot as string) as unknown;
      return { machineVersion: num(r.machine_version), state: r.state as string, snapshot };
    });
  }
}
