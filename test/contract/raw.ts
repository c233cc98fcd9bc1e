// Raw SQL against whichever adapter a contract test got, for the rules that live in the
// schema itself (triggers, keys): a write no port would make must still be refused.
import { Store } from '../../src/adapters/sqlite/store.js';
import { PgStore } from '../../src/adapters/postgres/store.js';
import type { StateStore } from '../../src/core/store-ports.js';

/** Run one statement (`?` placeholders) on the store's own database. */
export async function rawExec(store: StateStore, sql: string, params: unknown[] = []): Promise<void> {
  if (store instanceof Store) {
    store.db.prepare(sql).run(...params);
    return;
  }
  if (store instanceof PgStore) {
    let n = 0;
    await store.session.write((q) => q.query(sql.replace(/\?/g, () => `$${++n}`), params));
    return;
  }
  throw new Error('rawExec: unknown adapter');
}

/** The error a statement was refused with (or null when it was not). */
export async function refused(store: StateStore, sql: string, params: unknown[] = []): Promise<Error | null> {
  try {
    await rawExec(store, sql, params);
    return null;
  } catch (err) {
    return err as Error;
  }
}

/**
 * What kind of refusal an error is, in words both adapters share: SQLite's and PostgreSQL's
 * unique violations (the PostgreSQL store reports them as E_DUPLICATE), foreign keys.
 */
export function refusalKind(err: unknown): string {
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  if (code === 'E_DUPLICATE' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505') return 'unique';
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503') return 'foreign key';
  return `other: ${code} ${(err as Error | null)?.message ?? ''}`;
}
