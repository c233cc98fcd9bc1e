// The state database of a state dir, and the authority's store. Apart from deps.ts so that
// light commands (status, fleet ls) open the store without loading the pipeline's adapters.
// The only file that picks an adapter: SQLite by default; PostgreSQL (loaded only then) when
// authority.store says so, with this node's apply journal kept in its local SQLite file.
import { join } from 'node:path';
import type { Config } from '../core/config.js';
import type { Clock, StateStore } from '../core/ports.js';
import { systemClock } from '../adapters/clock.js';
import { Store } from '../adapters/sqlite/store.js';
import type { PgSession } from '../adapters/postgres/session.js';
import type { ReplicaSession } from '../adapters/postgres/replica-session.js';
import { pgTarget, postgresStore } from './pg-target.js';

export function openStore(stateDir: string, clock: Clock = systemClock): Store {
  return Store.open(join(stateDir, 'upshift.db'), () => clock.now());
}

export interface AuthorityStore {
  store: StateStore;
  /** On PostgreSQL: the session whose writes a won leadership fences (the daemon's replica). */
  session: ReplicaSession | null;
}

/**
 * The store of a node: SQLite in its state dir, or on an authority with `store.kind:
 * postgres` the shared database (migrated under its lock). `replica`: writes go through a
 * ReplicaSession the daemon's leadership fences; otherwise plain pooled transactions (the CLI).
 */
export async function openAuthorityStore(config: Config, stateDir: string,
  opts: { clock?: Clock; replica?: boolean; applicationName?: string } = {}): Promise<AuthorityStore> {
  const clock = opts.clock ?? systemClock;
  const st = postgresStore(config);
  if (!st) return { store: openStore(stateDir, clock), session: null };
  const target = pgTarget(st, opts.applicationName ?? 'upshift');
  const [{ PgStore }, { ReplicaSession }] = await Promise.all([
    import('../adapters/postgres/store.js'), import('../adapters/postgres/replica-session.js'),
  ]);
  const local = openStore(stateDir, clock);
  let session: ReplicaSession | null = null;
  try {
    const store = await PgStore.open(target, {
      now: () => clock.now(), local,
      ...(opts.replica ? { session: (pool): PgSession => (session = new ReplicaSession(pool)) } : {}),
    });
    return { store, session };
  } catch (err) {
    local.close();
    throw err;
  }
}
