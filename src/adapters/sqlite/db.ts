// Opening the state database: WAL, integrity check, numbered migrations. A database
// that fails its check is never used: corrupt state means no update, not a guess.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { UpshiftError } from '../../core/errors.js';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

/** How long opening waits out other processes opening the same file (busy_timeout does not cover every lock upgrade). */
const OPEN_BUSY_MS = 5000;

export function openDb(file: string, opts: { now: () => number; readonly?: boolean } = { now: () => Date.now() }): Db {
  // 0700: the state is the daemon's alone; the authority's stage commands must not read it
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const until = Date.now() + OPEN_BUSY_MS;
  for (;;) {
    try {
      return openOnce(file, opts);
    } catch (err) {
      // Switching a fresh file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY
      // at once (without the busy handler) when that could deadlock: wait a little, try again.
      if (!(err instanceof UpshiftError && err.code === 'E_STATE_BUSY') || Date.now() >= until) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10 + Math.floor(Math.random() * 40));
    }
  }
}

function openOnce(file: string, opts: { now: () => number; readonly?: boolean }): Db {
  let db: Db | undefined;
  try {
    db = new Database(file, { fileMustExist: false, readonly: opts.readonly ?? false });
    db.pragma('busy_timeout = 5000');
    if (!opts.readonly) db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(`quick_check: ${String(check)}`);
  } catch (err) {
    db?.close();
    if (isBusy(err)) {
      throw new UpshiftError('E_STATE_BUSY', `state database ${file} is locked by another process; try again`, { cause: err });
    }
    throw new UpshiftError('E_STATE_CORRUPT', `state database ${file} cannot be used: ${(err as Error).message}`, { cause: err });
  }
  keepStatements(db);
  if (!opts.readonly) {
    try {
      migrate(db, opts.now);
    } catch (err) {
      db.close();
      if (isBusy(err)) throw new UpshiftError('E_STATE_BUSY', `state database ${file} is locked by another process; try again`, { cause: err });
      throw err;
    }
  }
  return db;
}

/** SQL texts whose statements are kept per database; dynamic texts past this are prepared each time. */
const MAX_KEPT_STATEMENTS = 512;

/**
 * `db.prepare` keeps each statement by its SQL text: preparing is SQLite parsing the text
 * again, and the hot paths (a heartbeat's upsert, a status read) prepare on every call. A
 * kept statement comes back with pluck, raw and expand off, as a fresh one is; one that is
 * busy (an iterate() still open) is not shared: that call gets a fresh statement.
 */
function keepStatements(db: Db): void {
  const prepare = db.prepare.bind(db);
  const kept = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    const stmt = kept.get(sql);
    if (stmt === undefined) {
      const fresh = prepare(sql);
      if (kept.size < MAX_KEPT_STATEMENTS) kept.set(sql, fresh);
      return fresh;
    }
    if (stmt.busy) return prepare(sql);
    if (stmt.reader) stmt.pluck(false).expand(false).raw(false);
    return stmt;
  }) as Db['prepare'];
}

const isBusy = (err: unknown) => /^SQLITE_BUSY/.test(String((err as { code?: string }).code ?? ''));

function migrate(db: Db, now: () => number): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
  const newest = Math.max(0, ...applied);
  const known = Math.max(0, ...MIGRATIONS.map((m) => m.version));
  if (newest > known) {
    throw new UpshiftError('E_STATE_CORRUPT', `state database is at schema ${newest}, newer than this upshift knows (${known}); refusing to use it`);
  }
  for (const m of MIGRATIONS) {
    if (applied.has(m.version)) continue;
    // IMMEDIATE and a second look: another process opening the same fresh file may have
    // applied this migration since we read the list.
    db.transaction(() => {
      if (db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version)) return;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, now());
    }).immediate();
  }
}
