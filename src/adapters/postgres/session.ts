// How the PostgreSQL store reaches the database. Reads go to a pool; every write is one
// transaction handed to `write`, which a leader runs on its fenced session (leader.ts) and
// a single writer (tests, one-replica set-ups) runs on a pooled client of its own.
import type pg from 'pg';
import type { Leadership, Queryable } from './leader.js';

export type { Queryable } from './leader.js';

export interface PgSession {
  /** A read outside any write transaction. */
  read<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** One transaction: committed when `fn` resolves, rolled back when it throws. */
  write<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** The leader epoch its writes are fenced by, while it leads (fenced sessions only). */
  epoch?(): number | null;
}

/** Writes in plain transactions on the pool: for one writer only (no fencing). */
export function poolSession(pool: pg.Pool): PgSession {
  return {
    read: (fn) => fn(pool),
    async write(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const out = await fn(client);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
  };
}

/** Writes fenced by the leader's epoch on its own session; reads on the pool. */
export function leaderSession(pool: pg.Pool, leader: Leadership): PgSession {
  return { read: (fn) => fn(pool), write: (fn) => leader.fenced(fn), epoch: () => leader.epoch };
}
