// What several PostgreSQL tables share: the one seq line of a track (the pipeline's manifests
// and the deployments' ones), and a lock per name for a read-then-write that SQLite gets from
// its single writer. Under a leader every write is already serialized on its session; the
// locks keep a single-writer pool session (tests, one replica) just as safe.
import type { Queryable } from './session.js';
import { LOCK_CLASS } from './migrate.js';

/** Advisory lock class of the store's read-then-write sections (the migrator's + 2). */
const XACT_CLASS = LOCK_CLASS + 2;

/** Hold `name` until the transaction ends: writers of the same name take turns. */
export async function lockXact(q: Queryable, name: string): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [XACT_CLASS, name]);
}

/**
 * The next seq of a track: one past the highest in `manifests` and `deployment_manifests`.
 * Takes the track's lock first, so two reservations never read the same maximum (the two
 * tables have no key in common to refuse the second). Inside a write transaction only.
 */
export async function nextManifestSeq(q: Queryable, track: string): Promise<number> {
  await lockXact(q, `seq:${track}`);
  const { rows } = await q.query<{ s: string | null }>(`SELECT MAX(s) AS s FROM (SELECT MAX(seq) AS s FROM manifests WHERE track = $1
    UNION ALL SELECT MAX(seq) FROM deployment_manifests WHERE track = $1) m`, [track]);
  return Number(rows[0]?.s ?? 0) + 1;
}

/** A bigint column (node-postgres hands it out as a string) as a number; epoch ms fit. */
export const num = (v: unknown): number => Number(v);
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Append to the event log (the events table of migration 2), in the caller's transaction. */
export async function insertEvent(q: Queryable, e: { at: number; runId: string | null; stage: string | null; kind: string; actor: string; data: unknown }): Promise<void> {
  await q.query('INSERT INTO events (at, run_id, stage, kind, actor, data) VALUES ($1, $2, $3, $4, $5, $6)',
    [e.at, e.runId, e.stage, e.kind, e.actor, JSON.stringify(e.data)]);
}

export async function kvGet(q: Queryable, key: string): Promise<string | null> {
  const { rows } = await q.query<{ value: string }>('SELECT value FROM kv WHERE key = $1', [key]);
  return rows[0]?.value ?? null;
}

export async function kvSet(q: Queryable, key: string, value: string): Promise<void> {
  await q.query('INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
}
