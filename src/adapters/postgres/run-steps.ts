// Stage results and the facts they hand on, attempts, and the event log on PostgreSQL, with
// the SQLite store's semantics (adapters/sqlite/runs.ts): one read or one write each.
import type { RunFacts, StageName, StageResult } from '../../core/run.js';
import type { EventRecord } from '../../core/records.js';
import type { PgSession, Queryable } from './session.js';
import { all, insertEvent, lockRunEvents, num, one, toEvent, type Row } from './sql.js';

const toResult = (r: Row): StageResult => ({
  runId: r.run_id as string, stage: r.stage as StageName, outcome: r.outcome as StageResult['outcome'],
  reason: r.reason as string,
  ...(r.code ? { code: r.code as string } : {}), evidence: JSON.parse(r.evidence as string) as Record<string, unknown>,
  startedAt: num(r.started_at), finishedAt: num(r.finished_at), attempts: num(r.attempts),
});

async function saveFacts(q: Queryable, runId: string, f: Partial<RunFacts>): Promise<void> {
  if (f.codeHash === undefined && f.test === undefined && f.benchmark === undefined) return;
  await q.query('INSERT INTO run_facts (run_id) VALUES ($1) ON CONFLICT (run_id) DO NOTHING', [runId]);
  if (f.codeHash !== undefined) await q.query('UPDATE run_facts SET code_hash = $1 WHERE run_id = $2', [f.codeHash, runId]);
  if (f.test !== undefined) {
    const t = f.test;
    await q.query(`UPDATE run_facts SET test_passed = $1, test_failed = $2, test_skipped = $3, test_pass_rate = $4
      WHERE run_id = $5`,
      [t?.passed ?? null, t?.failed ?? null, t?.skipped ?? null, t?.passRate ?? null, runId]);
  }
  if (f.benchmark !== undefined) {
    const benchmark = f.benchmark === null ? null : JSON.stringify(f.benchmark);
    await q.query('UPDATE run_facts SET benchmark = $1 WHERE run_id = $2', [benchmark, runId]);
  }
}

export class PgRunSteps {
  constructor(private readonly s: PgSession) {}

  getStageResult(runId: string, stage: StageName): Promise<StageResult | null> {
    return this.s.read(async (q) => {
      const r = await one(q, 'SELECT * FROM stage_results WHERE run_id = $1 AND stage = $2', [runId, stage]);
      return r ? toResult(r) : null;
    });
  }

  stageResults(runId: string): Promise<StageResult[]> {
    return this.s.read(async (q) => (await all(q,
      'SELECT * FROM stage_results WHERE run_id = $1 ORDER BY started_at, rowid', [runId])).map(toResult));
  }

  /** Once per (run, stage) with its facts and event; a second record is refused by the key (E_DUPLICATE). */
  async recordStageResult(r: StageResult, facts: Partial<RunFacts> = {}): Promise<void> {
    await this.s.write(async (q) => {
      await q.query(`INSERT INTO stage_results (run_id, stage, outcome, reason, code, evidence, started_at, finished_at, attempts)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [r.runId, r.stage, r.outcome, r.reason, r.code ?? null, JSON.stringify(r.evidence), r.startedAt, r.finishedAt,
        r.attempts]);
      await saveFacts(q, r.runId, facts);
      await insertEvent(q, { at: r.finishedAt, runId: r.runId, stage: r.stage, kind: 'stage.result', actor: 'pipeline',
        data: { outcome: r.outcome, reason: r.reason, code: r.code ?? null } });
    });
  }

  runFacts(runId: string): Promise<RunFacts> {
    return this.s.read(async (q) => {
      const r = await one(q, 'SELECT * FROM run_facts WHERE run_id = $1', [runId]);
      if (!r) return { codeHash: null, test: null, benchmark: null };
      const test = r.test_passed === null ? null : {
        passed: num(r.test_passed), failed: num(r.test_failed), skipped: num(r.test_skipped), passRate: num(r.test_pass_rate),
      };
      return { codeHash: (r.code_hash as string | null) ?? null, test,
        benchmark: r.benchmark ? JSON.parse(r.benchmark as string) as RunFacts['benchmark'] : null };
    });
  }

  /** The run's row is locked first, so two starts of one stage never count the same attempt. */
  startAttempt(runId: string, stage: StageName, at: number): Promise<{ attempt: number; firstStartedAt: number }> {
    return this.s.write(async (q) => {
      await q.query('SELECT 1 FROM runs WHERE id = $1 FOR UPDATE', [runId]);
      const prev = await one(q, `SELECT COUNT(*)::int AS n, MIN(started_at) AS first FROM stage_attempts
        WHERE run_id = $1 AND stage = $2`, [runId, stage]);
      const attempt = num(prev?.n ?? 0) + 1;
      await q.query('INSERT INTO stage_attempts (run_id, stage, attempt, started_at) VALUES ($1, $2, $3, $4)',
        [runId, stage, attempt, at]);
      await insertEvent(q, { at, runId, stage, kind: 'stage.started', actor: 'pipeline', data: { attempt } });
      return { attempt, firstStartedAt: prev?.first === null || prev?.first === undefined ? at : num(prev.first) };
    });
  }

  async setAttemptPid(runId: string, stage: StageName, attempt: number, pid: number | null): Promise<void> {
    await this.s.write((q) => q.query('UPDATE stage_attempts SET pid = $1 WHERE run_id = $2 AND stage = $3 AND attempt = $4',
      [pid, runId, stage, attempt]));
  }

  strayPids(runId: string): Promise<Array<{ stage: string; attempt: number; pid: number }>> {
    return this.s.read(async (q) => (await all(q,
      'SELECT stage, attempt, pid FROM stage_attempts WHERE run_id = $1 AND pid IS NOT NULL ORDER BY stage, attempt', [runId]))
      .map((r) => ({ stage: r.stage as string, attempt: num(r.attempt), pid: num(r.pid) })));
  }

  // ---- events (append-only: a trigger refuses UPDATE and DELETE)
  async appendEvent(e: Omit<EventRecord, 'seq'>): Promise<void> {
    await this.s.write((q) => insertEvent(q, e));
  }

  /** Guarded appends to one run take turns under a transaction lock, as SQLite's IMMEDIATE transaction makes them. */
  appendEventGuarded(
    e: Omit<EventRecord, 'seq'> & { runId: string }, guard: { unless: readonly string[]; requires?: readonly string[] },
  ): Promise<boolean> {
    return this.s.write(async (q) => {
      await lockRunEvents(q, e.runId);
      const has = async (kinds: readonly string[]): Promise<boolean> => kinds.length > 0
        && (await one(q, 'SELECT 1 FROM events WHERE run_id = $1 AND kind = ANY($2::text[]) LIMIT 1',
          [e.runId, [...kinds]])) !== null;
      if (await has(guard.unless) || (guard.requires && !(await has(guard.requires)))) return false;
      await insertEvent(q, e);
      return true;
    });
  }

  eventsOfKind(kinds: readonly string[], limit = 100): Promise<EventRecord[]> {
    return this.s.read(async (q) => (await all(q,
      'SELECT * FROM events WHERE kind = ANY($1::text[]) ORDER BY seq DESC LIMIT $2', [[...kinds], limit])).map(toEvent));
  }

  events(opts: { runId?: string; limit?: number } = {}): Promise<EventRecord[]> {
    return this.s.read(async (q) => (opts.runId
      ? await all(q, 'SELECT * FROM events WHERE run_id = $1 ORDER BY seq LIMIT $2', [opts.runId, opts.limit ?? 1000])
      : await all(q, 'SELECT * FROM (SELECT * FROM events ORDER BY seq DESC LIMIT $1) e ORDER BY seq',
        [opts.limit ?? 100])).map(toEvent));
  }
}
