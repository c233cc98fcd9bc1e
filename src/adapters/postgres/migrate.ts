// Numbered, append-only migrations for the PostgreSQL store, applied by one migrator at a
// time: a session advisory lock serializes replicas that start together, and each
// migration commits in its own transaction with its number.
import type pg from 'pg';
import { UpshiftError } from '../../core/errors.js';

export interface PgMigration {
  version: number;
  name: string;
  sql: string;
}

/** Advisory lock class for upshift; the second key names what is locked. */
export const LOCK_CLASS = 0x75707368; // "upsh"
const MIGRATE_KEY = 1;

export async function migrate(client: pg.Client, migrations: readonly PgMigration[]): Promise<number[]> {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new UpshiftError('E_INTERNAL', `PostgreSQL migration ${m.name} is number ${m.version}, expected ${i + 1}`);
  });
  await client.query('SELECT pg_advisory_lock($1, $2)', [LOCK_CLASS, MIGRATE_KEY]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS upshift_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM upshift_migrations ORDER BY version');
    const have = rows.map((r) => r.version);
    const newest = have.length ? Math.max(...have) : 0;
    if (newest > migrations.length) {
      throw new UpshiftError('E_SCHEMA_NEWER', `the database schema is at version ${newest}; this upshift knows ${migrations.length}: upgrade this replica first`,
        { details: { database: newest, known: migrations.length } });
    }
    const applied: number[] = [];
    for (const m of migrations.slice(newest)) {
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO upshift_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      applied.push(m.version);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_CLASS, MIGRATE_KEY]).catch(() => undefined);
  }
}
