// The session of an authority replica's store: while it follows, its few writes (queued
// commands, fleet reports) are plain transactions on the pool; once it leads, every write
// goes through the leader's fenced session, and after the leadership is lost every write
// fails E_FENCED. Reads always go to the pool.
import type pg from 'pg';
import type { Leadership } from './leader.js';
import { poolSession, type PgSession, type Queryable } from './session.js';

export class ReplicaSession implements PgSession {
  private leader: Leadership | null = null;
  private readonly plain: PgSession;

  constructor(readonly pool: pg.Pool) {
    this.plain = poolSession(pool);
  }

  /** From now on every write is fenced by this leadership's epoch. */
  lead(leader: Leadership): void {
    this.leader = leader;
  }

  get leading(): Leadership | null {
    return this.leader;
  }

  epoch(): number | null {
    return this.leader?.epoch ?? null;
  }

  read<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.plain.read(fn);
  }

  write<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.leader ? this.leader.fenced(fn) : this.plain.write(fn);
  }
}
