// What the PostgreSQL store's tables share: typed row reads, epoch-ms bigints back to numbers
// (node-postgres returns int8 as a string, to lose nothing; our times fit a double), the one
// seq line of a track (the pipeline's manifests and the deployments' ones), a lock per name
// for the read-then-write sections SQLite gets from its single writer, the event and kv rows,
// and one error translation, so a uniqueness rule refused by the schema reads E_DUPLICATE on
// both adapters. Under a leader every write is already serialized on its session; the locks
// keep a single-writer pool session (tests, one replica) just as safe.
import { UpshiftError } from '../../core/errors.js';
import type { EventRecord } from '../../core/records.js';
import { importedManifestPrefix } from '../../core/store-ports.js';
import { LOCK_CLASS } from './migrate.js';
import type { PgSession, Queryable } from './session.js';

export type Row = Record<string, unknown>;

export const num = (v: unknown): number => Number(v);
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export async function rows<R extends Row = Row>(q: Queryable, sql: string, args: unknown[] = []): Promise<R[]> {
  return (await q.query<R>(sql, args)).rows;
}

export async function first<R extends Row = Row>(q: Queryable, sql: string, args: unknown[] = []): Promise<R | null> {
  return (await q.query<R>(sql, args)).rows[0] ?? null;
}

export const one = (q: Queryable, sql: string, params: unknown[] = []): Promise<Row | null> => first(q, sql, params);
export const all = (q: Queryable, sql: string, params: unknown[] = []): Promise<Row[]> => rows(q, sql, params);

export interface NewEvent { at: number; runId: string | null; stage: string | null; kind: string; actor: string; data: unknown }

/** Append to the event log (append-only: a trigger refuses UPDATE and DELETE), in the caller's transaction. */
export async function insertEvent(q: Queryable, e: NewEvent | Omit<EventRecord, 'seq'>): Promise<void> {
  await q.query('INSERT INTO events (at, run_id, stage, kind, actor, data) VALUES ($1, $2, $3, $4, $5, $6)',
    [e.at, e.runId, e.stage, e.kind, e.actor, JSON.stringify(e.data)]);
}

export const toEvent = (r: Row): EventRecord => ({
  seq: num(r.seq), at: num(r.at), runId: r.run_id as string | null, stage: r.stage as string | null, kind: r.kind as string,
  actor: r.actor as string, data: JSON.parse(r.data as string) as Record<string, unknown>,
});

export async function kvGet(q: Queryable, key: string): Promise<string | null> {
  return ((await first(q, 'SELECT value FROM kv WHERE key = $1', [key]))?.value as string | undefined) ?? null;
}

export async function kvSet(q: Queryable, key: string, value: string): Promise<void> {
  await q.query('INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    [key, value]);
}

/** Advisory lock class of the store's read-then-write sections (the migrator's + 2; the leader's is + 1). */
const XACT_CLASS = LOCK_CLASS + 2;

/** Hold `name` until the transaction ends: writers of the same name take turns. */
export async function lockXact(q: Queryable, name: string): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [XACT_CLASS, name]);
}

/**
 * Take the lock of a track's seq line until the transaction ends: reservations of the same
 * track (manifests and deployment manifests alike) take turns, as under SQLite's IMMEDIATE
 * transaction, so two never read the same highest seq.
 */
export async function lockTrackSeqs(q: Queryable, track: string): Promise<void> {
  await lockXact(q, `seq:${track}`);
}

/**
 * The next seq of a track: one past the highest in `manifests`, `deployment_manifests` and the
 * imported envelopes (kv).
 * Takes the track's lock first (the two tables have no key in common to refuse a second
 * reservation of the same seq). Inside a write transaction only.
 */
export async function nextManifestSeq(q: Queryable, track: string): Promise<number> {
  await lockTrackSeqs(q, track);
  const r = await first(q, `SELECT MAX(s) AS s FROM (SELECT MAX(seq) AS s FROM manifests WHERE track = $1
    UNION ALL SELECT MAX(seq) FROM deployment_manifests WHERE track = $1
    UNION ALL SELECT MAX(substr(key, char_length($2) + 1)::bigint) FROM kv WHERE left(key, char_length($2)) = $2) m`,
  [track, importedManifestPrefix(track)]);
  return Number(r?.s ?? 0) + 1;
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
    ...(session.epoch ? { epoch: () => session.epoch?.() ?? null } : {}),
  };
}
