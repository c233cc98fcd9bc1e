// The pipeline's tables (synchronous; Store gives them their async port face): runs,
// persisted machine snapshots, driver leases, stage results and facts, the event log.
import type { Run, RunFacts, RunStatus, StageName, StageResult } from '../../core/run.js';
import type { EventRecord } from '../../core/records.js';
import type { FirstSnapshot, NewRun, SavedSnapshot, SnapshotWrite } from '../../core/store-ports.js';
import { UpshiftError } from '../../core/errors.js';
import type { Db } from './db.js';
import { approve, insertEvent } from './records.js';

interface RunRow {
  id: string; track: string; version: string; ref: string; commit_sha: string; status: RunStatus; stage: string;
  reason: string | null; code: string | null; retry_of: string | null; created_at: number; updated_at: number; finished_at: number | null;
}

const toRun = (r: RunRow): Run => ({
  id: r.id, track: r.track, version: r.version, ref: r.ref, commit: r.commit_sha, status: r.status, stage: r.stage,
  reason: r.reason, code: r.code, retryOf: r.retry_of, createdAt: r.created_at, updatedAt: r.updated_at, finishedAt: r.finished_at,
});

/** A uniqueness rule of the schema refused the write: E_DUPLICATE (as the PostgreSQL store says), SQLite's words kept. */
function refuseDuplicate<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const code = String((err as { code?: unknown }).code);
    if (code !== 'SQLITE_CONSTRAINT_UNIQUE' && code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') throw err;
    throw new UpshiftError('E_DUPLICATE', `${what}: ${(err as Error).message}`, { cause: err });
  }
}

export class RunTables {
  constructor(private readonly db: Db) {}

  /** IMMEDIATE: a read-then-write takes the write lock first; nested calls join the outer one. */
  private tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  // ---- runs
  createRun(r: NewRun, first?: FirstSnapshot): Run {
    return refuseDuplicate(`run ${r.id} (${r.track} ${r.version}) exists already`, () => this.tx(() => {
      this.db.prepare(`INSERT INTO runs (id, track, version, ref, commit_sha, status, stage, retry_of, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, 'pending', 'idle', ?, ?, ?)`).run(r.id, r.track, r.version, r.ref, r.commit, r.retryOf, r.createdAt, r.createdAt);
      if (first) {
        const { machineVersion, snapshot, at } = first;
        this.saveSnapshot({ runId: r.id, machineVersion, state: 'idle', status: 'pending', snapshot, reason: null, code: null, at });
        const data = { track: r.track, version: r.version, ref: r.ref, commit: r.commit, retry_of: r.retryOf };
        this.appendEvent({ at, runId: r.id, stage: null, kind: 'run.created', actor: 'pipeline', data });
      }
      return this.getRun(r.id) as Run;
    }));
  }

  /** One IMMEDIATE transaction: look, create, approve; the retry never exists without its approval. */
  createRetry(r: NewRun & { retryOf: string }, first: FirstSnapshot, approval: { by: string; reason: string }): { run: Run; created: boolean } {
    try {
      return this.tx(() => {
        const existing = this.findRetry(r.retryOf);
        if (existing) return { run: existing, created: false };
        const run = this.createRun(r, first);
        approve(this.db, run.id, approval.by, approval.reason, first.at, { retry_of: r.retryOf });
        return { run, created: true };
      });
    } catch (err) {
      // the one-retry constraint (migration 4) refused a retry made elsewhere meanwhile: that one is the retry
      const code = String((err as { code?: unknown }).code);
      const raced = code === 'E_DUPLICATE' || /^SQLITE_CONSTRAINT/.test(code) ? this.findRetry(r.retryOf) : null;
      if (raced) return { run: raced, created: false };
      throw err;
    }
  }

  getRun(id: string): Run | null {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    return row ? toRun(row) : null;
  }

  requireRun(id: string): Run {
    const run = this.getRun(id);
    if (!run) throw new UpshiftError('E_RUN_NOT_FOUND', `no run with id "${id}"`);
    return run;
  }

  findRun(track: string, version: string): Run | null {
    const row = this.db.prepare('SELECT * FROM runs WHERE track = ? AND version = ? ORDER BY created_at DESC, rowid DESC LIMIT 1').get(track, version) as RunRow | undefined;
    return row ? toRun(row) : null;
  }

  listRuns(opts: { track?: string; limit?: number } = {}): Run[] {
    const rows = opts.track
      ? this.db.prepare('SELECT * FROM runs WHERE track = ? ORDER BY created_at DESC, rowid DESC LIMIT ?').all(opts.track, opts.limit ?? 50)
      : this.db.prepare('SELECT * FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?').all(opts.limit ?? 50);
    return (rows as RunRow[]).map(toRun);
  }

  /** The one retry of a run (migration 4), or null when it has none. */
  findRetry(runId: string): Run | null {
    const row = this.db.prepare(`SELECT runs.* FROM run_retries JOIN runs ON runs.id = run_retries.run_id
      WHERE run_retries.retry_of = ?`).get(runId) as RunRow | undefined;
    return row ? toRun(row) : null;
  }

  runCounts(): Array<{ track: string; status: RunStatus; n: number }> {
    return this.db.prepare('SELECT track, status, COUNT(*) AS n FROM runs GROUP BY track, status').all() as Array<{ track: string; status: RunStatus; n: number }>;
  }

  ping(): void {
    this.db.prepare('SELECT 1').get();
  }

  unfinishedRuns(): Run[] {
    return (this.db.prepare("SELECT * FROM runs WHERE status IN ('pending','running') ORDER BY created_at, rowid").all() as RunRow[]).map(toRun);
  }

  versionsSeen(track: string): string[] {
    return this.db.prepare('SELECT DISTINCT version FROM runs WHERE track = ?').pluck().all(track) as string[];
  }

  /** The newest completed run of a track: the "last stable release". */
  lastStable(track: string, before?: string): Run | null {
    const row = this.db.prepare(`SELECT * FROM runs WHERE track = ? AND status = 'completed' AND id != ? ORDER BY finished_at DESC, rowid DESC LIMIT 1`)
      .get(track, before ?? '') as RunRow | undefined;
    return row ? toRun(row) : null;
  }

  // ---- driver lease: one process drives a run at a time
  /** Take or renew the lease; a lease whose holder died (pid gone) or expired is taken over. */
  acquireLease(runId: string, owner: string, pid: number, until: number, now: number, alive: (pid: number) => boolean): boolean {
    return this.tx(() => {
      const cur = this.db.prepare('SELECT lease_owner, lease_pid, lease_until FROM runs WHERE id = ?').get(runId) as
        { lease_owner: string | null; lease_pid: number | null; lease_until: number | null } | undefined;
      if (!cur) throw new UpshiftError('E_RUN_NOT_FOUND', `no run with id "${runId}"`);
      const held = cur.lease_owner !== null && cur.lease_owner !== owner && (cur.lease_until ?? 0) > now && cur.lease_pid !== null && alive(cur.lease_pid);
      if (held) return false;
      this.db.prepare('UPDATE runs SET lease_owner = ?, lease_pid = ?, lease_until = ? WHERE id = ?').run(owner, pid, until, runId);
      return true;
    });
  }

  releaseLease(runId: string, owner: string): void {
    this.db.prepare('UPDATE runs SET lease_owner = NULL, lease_pid = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?').run(runId, owner);
  }

  leaseHolder(runId: string): { owner: string; pid: number; until: number } | null {
    const r = this.db.prepare('SELECT lease_owner, lease_pid, lease_until FROM runs WHERE id = ?').get(runId) as { lease_owner: string | null; lease_pid: number; lease_until: number } | undefined;
    return r && r.lease_owner ? { owner: r.lease_owner, pid: r.lease_pid, until: r.lease_until } : null;
  }

  // ---- snapshots: saved together with the run's status, in one transaction
  saveSnapshot(s: SnapshotWrite): void {
    this.tx(() => {
      this.db.prepare(`INSERT INTO snapshots (run_id, machine_version, state, snapshot, updated_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT(run_id) DO UPDATE SET machine_version = excluded.machine_version, state = excluded.state, snapshot = excluded.snapshot, updated_at = excluded.updated_at`)
        .run(s.runId, s.machineVersion, s.state, JSON.stringify(s.snapshot), s.at);
      const prev = this.db.prepare('SELECT stage FROM runs WHERE id = ?').pluck().get(s.runId) as string | undefined;
      const terminal = s.status === 'completed' || s.status === 'failed' || s.status === 'rolled_back';
      this.db.prepare('UPDATE runs SET status = ?, stage = ?, reason = ?, code = ?, updated_at = ?, finished_at = COALESCE(finished_at, ?) WHERE id = ?')
        .run(s.status, s.state, s.reason, s.code, s.at, terminal ? s.at : null, s.runId);
      if (prev !== s.state) this.appendEvent({ at: s.at, runId: s.runId, stage: null, kind: 'run.state', actor: 'pipeline', data: { from: prev ?? null, to: s.state, status: s.status, reason: s.reason } });
    });
  }

  loadSnapshot(runId: string): SavedSnapshot | null {
    const row = this.db.prepare('SELECT machine_version, state, snapshot FROM snapshots WHERE run_id = ?').get(runId) as
      { machine_version: number; state: string; snapshot: string } | undefined;
    return row ? { machineVersion: row.machine_version, state: row.state, snapshot: JSON.parse(row.snapshot) } : null;
  }

  // ---- stage results and attempts
  getStageResult(runId: string, stage: StageName): StageResult | null {
    const r = this.db.prepare('SELECT * FROM stage_results WHERE run_id = ? AND stage = ?').get(runId, stage) as Record<string, unknown> | undefined;
    return r ? this.toResult(r) : null;
  }

  stageResults(runId: string): StageResult[] {
    return (this.db.prepare('SELECT * FROM stage_results WHERE run_id = ? ORDER BY started_at, rowid').all(runId) as Record<string, unknown>[]).map((r) => this.toResult(r));
  }

  private toResult(r: Record<string, unknown>): StageResult {
    return {
      runId: r.run_id as string, stage: r.stage as StageName, outcome: r.outcome as StageResult['outcome'], reason: r.reason as string,
      ...(r.code ? { code: r.code as string } : {}), evidence: JSON.parse(r.evidence as string) as Record<string, unknown>,
      startedAt: r.started_at as number, finishedAt: r.finished_at as number, attempts: r.attempts as number,
    };
  }

  /**
   * Records a stage result once, with the facts it hands to later stages, in one
   * transaction; a second record for the same stage is refused.
   */
  recordStageResult(r: StageResult, facts: Partial<RunFacts> = {}): void {
    refuseDuplicate(`a ${r.stage} result of run ${r.runId} is recorded already`, () => this.tx(() => {
      this.db.prepare(`INSERT INTO stage_results (run_id, stage, outcome, reason, code, evidence, started_at, finished_at, attempts)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(r.runId, r.stage, r.outcome, r.reason, r.code ?? null, JSON.stringify(r.evidence), r.startedAt, r.finishedAt, r.attempts);
      this.saveFacts(r.runId, facts);
      this.appendEvent({ at: r.finishedAt, runId: r.runId, stage: r.stage, kind: 'stage.result', actor: 'pipeline', data: { outcome: r.outcome, reason: r.reason, code: r.code ?? null } });
    }));
  }

  private saveFacts(runId: string, f: Partial<RunFacts>): void {
    if (f.codeHash === undefined && f.test === undefined && f.benchmark === undefined) return;
    this.db.prepare('INSERT INTO run_facts (run_id) VALUES (?) ON CONFLICT(run_id) DO NOTHING').run(runId);
    if (f.codeHash !== undefined) this.db.prepare('UPDATE run_facts SET code_hash = ? WHERE run_id = ?').run(f.codeHash, runId);
    if (f.test !== undefined) {
      const t = f.test;
      this.db.prepare('UPDATE run_facts SET test_passed = ?, test_failed = ?, test_skipped = ?, test_pass_rate = ? WHERE run_id = ?')
        .run(t?.passed ?? null, t?.failed ?? null, t?.skipped ?? null, t?.passRate ?? null, runId);
    }
    if (f.benchmark !== undefined) {
      this.db.prepare('UPDATE run_facts SET benchmark = ? WHERE run_id = ?').run(f.benchmark === null ? null : JSON.stringify(f.benchmark), runId);
    }
  }

  /** What earlier stages of a run recorded for later ones. */
  runFacts(runId: string): RunFacts {
    const r = this.db.prepare('SELECT * FROM run_facts WHERE run_id = ?').get(runId) as Record<string, unknown> | undefined;
    if (!r) return { codeHash: null, test: null, benchmark: null };
    const test = r.test_passed === null ? null : {
      passed: r.test_passed as number, failed: r.test_failed as number, skipped: r.test_skipped as number, passRate: r.test_pass_rate as number,
    };
    return { codeHash: (r.code_hash as string | null) ?? null, test, benchmark: r.benchmark ? JSON.parse(r.benchmark as string) as RunFacts['benchmark'] : null };
  }

  startAttempt(runId: string, stage: StageName, at: number): { attempt: number; firstStartedAt: number } {
    return this.tx(() => {
      const prev = this.db.prepare('SELECT COUNT(*) AS n, MIN(started_at) AS first FROM stage_attempts WHERE run_id = ? AND stage = ?').get(runId, stage) as { n: number; first: number | null };
      const attempt = prev.n + 1;
      this.db.prepare('INSERT INTO stage_attempts (run_id, stage, attempt, started_at) VALUES (?, ?, ?, ?)').run(runId, stage, attempt, at);
      this.appendEvent({ at, runId, stage, kind: 'stage.started', actor: 'pipeline', data: { attempt } });
      return { attempt, firstStartedAt: prev.first ?? at };
    });
  }

  setAttemptPid(runId: string, stage: StageName, attempt: number, pid: number | null): void {
    this.db.prepare('UPDATE stage_attempts SET pid = ? WHERE run_id = ? AND stage = ? AND attempt = ?').run(pid, runId, stage, attempt);
  }

  /** Process groups recorded by attempts that never cleared them (the driver died). */
  strayPids(runId: string): Array<{ stage: string; attempt: number; pid: number }> {
    return this.db.prepare('SELECT stage, attempt, pid FROM stage_attempts WHERE run_id = ? AND pid IS NOT NULL').all(runId) as Array<{ stage: string; attempt: number; pid: number }>;
  }

  // ---- events (append-only: triggers refuse UPDATE and DELETE)
  appendEvent(e: Omit<EventRecord, 'seq'>): void {
    insertEvent(this.db, e);
  }

  /**
   * Append `e` in one transaction unless its run has an event of a kind in `unless`, or (with
   * `requires`) none of a kind in `requires`: a mark set once (promotion). True when appended.
   */
  appendEventGuarded(e: Omit<EventRecord, 'seq'> & { runId: string }, guard: { unless: readonly string[]; requires?: readonly string[] }): boolean {
    return this.tx(() => {
      const has = (kinds: readonly string[]): boolean => kinds.length > 0 && this.db.prepare(
        `SELECT 1 FROM events WHERE run_id = ? AND kind IN (${kinds.map(() => '?').join(',')}) LIMIT 1`).get(e.runId, ...kinds) !== undefined;
      if (has(guard.unless) || (guard.requires && !has(guard.requires))) return false;
      insertEvent(this.db, e);
      return true;
    });
  }

  /** The newest events of some kinds, newest first. */
  eventsOfKind(kinds: readonly string[], limit = 100): EventRecord[] {
    const marks = kinds.map(() => '?').join(',');
    const rows = this.db.prepare(`SELECT * FROM events WHERE kind IN (${marks}) ORDER BY seq DESC LIMIT ?`).all(...kinds, limit) as Array<Record<string, unknown>>;
    return rows.map((r) => ({ seq: r.seq as number, at: r.at as number, runId: r.run_id as string | null, stage: r.stage as string | null, kind: r.kind as string, actor: r.actor as string, data: JSON.parse(r.data as string) as Record<string, unknown> }));
  }

  events(opts: { runId?: string; limit?: number } = {}): EventRecord[] {
    const rows = (opts.runId
      ? this.db.prepare('SELECT * FROM events WHERE run_id = ? ORDER BY seq LIMIT ?').all(opts.runId, opts.limit ?? 1000)
      : this.db.prepare('SELECT * FROM (SELECT * FROM events ORDER BY seq DESC LIMIT ?) ORDER BY seq').all(opts.limit ?? 100)) as Array<Record<string, unknown>>;
    return rows.map((r) => ({ seq: r.seq as number, at: r.at as number, runId: r.run_id as string | null, stage: r.stage as string | null, kind: r.kind as string, actor: r.actor as string, data: JSON.parse(r.data as string) as Record<string, unknown> }));
  }
}
