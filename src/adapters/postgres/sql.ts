// Small helpers the PostgreSQL store's tables share: typed row reads, epoch-ms bigints back to
// numbers (node-postgres returns int8 as a string, to lose nothing; our times fit a double),
// the event insert, transaction-scoped advisory locks, and one error translation, so a
// uniqueness rule refused by the schema reads E_DUPLICATE on both adapters.
import { UpshiftError } from '../../core/errors.js';
import type { EventRecord } from '../../core/records.js';
import { LOCK_CLASS } from './migrate.js';
import type { PgSession, Queryable } from './session.js';

export type Row = Record<string, unknown>;

export const num = (v: unknown): number => Number(v);
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export async function one(q: Queryable, sql: string, params: unknown[] = []): Promise<Row | null> {
  const { rows } = await q.query<Row>(sql, params);
  return rows[0] ?? null;
}

export async function all(q: Queryable, sql: string, params: unknown[] = []): Promise<Row[]> {
  return (await q.query<Row>(sql, params)).rows;
}

/** Append to the event log (append-only: a trigger refuses UPDATE and DELETE). */
export async function insertEvent(q: Queryable, e: Omit<EventRecord, 'seq'>): Promise<void> {
  await q.query('INSERT INTO events (at, run_id, stage, kind, actor, data) VALUES ($1, $2, $3, $4, $5, $6)',
    [e.at, e.runId, e.stage, e.kind, e.actor, JSON.stringify(e.data)]);
}

export const toEvent = (r: Row): EventRecord => ({
  seq: num(r.seq), at: num(r.at), runId: r.run_id as string | null, stage: r.stage as string | null, kind: r.kind as string,
  actor: r.actor as string, data: JSON.parse(r.data as string) as Record<string, unknown>,
});

/** Advisory lock class of the store's read-then-write sections (the migrator's + 2; the leader's is + 1). */
const XACT_CLASS = LOCK_CLASS + 2;

/** Hold `name` until the transaction ends: writers of the same name take turns. */
async function lockXact(q: Queryable, name: string): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [XACT_CLASS, name]);
}

/**
 * Take the lock of a track's seq line until the transaction ends: reservations of the same
 * track (manifests and deployment manifests alike, which take the same `seq:<track>` lock)
 * take turns, as under SQLite's IMMEDIATE transaction, so two never read the same highest seq.
 */
export async function lockTrackSeqs(q: Queryable, track: string): Promise<void> {
  await lockXact(q, `seq:${track}`);
}

/** Guarded appends to one run's events take turns (a check, then an insert). */
export async function lockRunEvents(q: Queryable, runId: string): Promise<void> {
  await lockXact(q, `events:${runId}`);
}

const isPgError = (err: unknown): err is Error & { code: string; constraint?: string; detail?: string } =>
  err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && !(err instanceof UpshiftError);

/** The same error for the same refusal on both adapters: a unique violation (23505) is E_DUPLICATE. */
export function translate(err: unknown): unknown {
  if (isPgError(err) && err.code === '23505') {
    return new UpshiftError('E_DUPLICATE', `${err.message}${err.detail ? ` (${err.detail})` : ''}`,
      { cause: err, details: { constraint: err.constraint ?? null } });
  }
  return err;
}

/** `session` with its errors translated. */
export function translating(session: PgSession): PgSession {
  return {
    read: (fn) => session.read(fn).catch((err: unknown) => { throw translate(err); }),
    write: (fn) => session.write(fn).catch((err: unknown) => { throw translate(err); }),
  };
}
