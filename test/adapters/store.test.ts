import t from 'tap';
import { MIGRATIONS } from '../../src/adapters/sqlite/migrations.js';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openDb } from '../../src/adapters/sqlite/db.js';
import { Store } from '../../src/adapters/sqlite/store.js';
import { repoPath } from '../helpers/paths.js';
import { spawnChild } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';

function freshStore(t: Tap.Test, now = () => 1_000): { store: Store; file: string } {
  const file = join(tempDir(t), 'state', 'upshift.db');
  const store = Store.open(file, now);
  t.teardown(() => store.close());
  return { store, file };
}

const newRun = async (store: Store, id: string, version: string, opts: { track?: string; retryOf?: string; at?: number } = {}) =>
  await store.createRun({ id, track: opts.track ?? 'testnet', version, ref: 'main', commit: 'c0ffee', retryOf: opts.retryOf ?? null, createdAt: opts.at ?? 1_000 });

/** Whether this process still holds a file descriptor on `file` (Linux /proc). */
const holdsOpen = (file: string) => readdirSync('/proc/self/fd').some((fd) => {
  try {
    return readlinkSync(join('/proc/self/fd', fd)) === file;
  } catch {
    return false;
  }
});

t.test('migrations run once: reopening keeps the data and does not apply version 1 again', async (t) => {
  const file = join(tempDir(t), 'upshift.db');
  const first = Store.open(file, () => 111);
  await newRun(first, 'r1', 'v1.0.0');
  t.equal(first.db.pragma('journal_mode', { simple: true }), 'wal');
  first.close();
  const again = Store.open(file, () => 222);
  t.teardown(() => again.close());
  t.same(again.db.prepare('SELECT version, name, applied_at FROM schema_migrations').all(), MIGRATIONS.map((m) => ({ version: m.version, name: m.name, applied_at: 111 })));
  t.equal((await again.getRun('r1'))?.version, 'v1.0.0');
});

t.test('a database from a newer upshift (schema 99) is refused with E_STATE_CORRUPT and let go', async (t) => {
  const file = join(tempDir(t), 'upshift.db');
  const db = new Database(file);
  db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  db.prepare('INSERT INTO schema_migrations VALUES (99, ?, 1)').run('from the future');
  db.close();
  t.throws(() => openDb(file), { code: 'E_STATE_CORRUPT', message: new RegExp(`schema 99, newer than this upshift knows \\(${MIGRATIONS.length}\\)`) });
  t.notOk(holdsOpen(file), 'the refused database is closed again');
});

t.test('a file of random bytes is refused with E_STATE_CORRUPT', async (t) => {
  const file = join(tempDir(t), 'upshift.db');
  writeFileSync(file, randomBytes(16 * 1024));
  t.throws(() => openDb(file), { code: 'E_STATE_CORRUPT', message: /cannot be used: file is not a database/ });
  t.notOk(holdsOpen(file));
});

t.test('a database whose pages were overwritten is refused with E_STATE_CORRUPT', async (t) => {
  const { store, file } = freshStore(t);
  for (let i = 0; i < 20; i++) await newRun(store, `r${i}`, `v${i}`);
  store.close();
  const bytes = readFileSync(file);
  for (let i = 4096; i < bytes.length; i++) bytes[i] = i & 0xff;
  writeFileSync(file, bytes);
  t.throws(() => openDb(file), { code: 'E_STATE_CORRUPT' });
  t.notOk(holdsOpen(file));
});

t.test('processes opening the same fresh database at once all succeed and migrate it once', async (t) => {
  const file = join(tempDir(t), 'upshift.db');
  const go = `${file}.go`;
  // Every child loads the code first, then spins on a marker file, so all of them open the
  // fresh file within microseconds of each other: the window where two would migrate it.
  const child = `const { openDb } = await import(${JSON.stringify(pathToFileURL(repoPath('dist', 'src', 'adapters', 'sqlite', 'db.js')).href)});
    const { existsSync } = await import('node:fs');
    console.log('ready');
    while (!existsSync(${JSON.stringify(go)})) {}
    try { openDb(${JSON.stringify(file)}).close(); console.log('opened'); } catch (err) { console.log('failed: ' + (err.cause?.code ?? err.code) + ' ' + err.message); }`;
  const outputs: Array<Promise<string>> = [];
  const ready: Array<Promise<void>> = [];
  for (let i = 0; i < 6; i++) {
    const proc = spawnChild(t, process.execPath, ['--input-type=module', '-e', child], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    // a child that dies before it is ready counts as ready, so its output fails the test instead of hanging it
    ready.push(new Promise((resolve) => {
      proc.stdout!.on('data', (d: Buffer) => ((out += d), out.includes('ready') && resolve()));
      proc.on('close', () => resolve());
    }));
    outputs.push(new Promise((resolve) => proc.on('close', () => resolve(out.replace('ready\n', '').trim()))));
  }
  await Promise.all(ready);
  writeFileSync(go, '');
  t.same(await Promise.all(outputs), Array(6).fill('opened'));
  const db = openDb(file);
  t.teardown(() => db.close());
  t.same(db.prepare('SELECT version FROM schema_migrations').pluck().all(), MIGRATIONS.map((m) => m.version));
});

t.test('a database holding two retries of one run from before migration 5 migrates, and the first is the retry', async (t) => {
  const file = join(tempDir(t), 'upshift.db');
  const old = new Database(file);
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  for (const m of MIGRATIONS.filter((m) => m.version < 4)) {
    old.exec(m.sql);
    old.prepare('INSERT INTO schema_migrations VALUES (?, ?, 1)').run(m.version, m.name);
  }
  const insert = old.prepare(`INSERT INTO runs (id, track, version, ref, commit_sha, status, stage, retry_of, created_at, updated_at)
    VALUES (?, 'testnet', 'c1', 'main', 'c1', 'completed', 'completed', ?, ?, ?)`);
  insert.run('r1', null, 1, 1);
  insert.run('r2', 'r1', 2, 2);
  insert.run('r3', 'r1', 3, 3); // the bug: a second approval made a second retry
  old.close();
  const store = Store.open(file, () => 10);
  t.teardown(() => store.close());
  t.equal((await store.findRetry('r1'))?.id, 'r2', 'the earlier retry holds the slot');
  t.same((await store.listRuns()).map((r) => r.id).sort(), ['r1', 'r2', 'r3'], 'history is kept as it was');
  await t.rejects(() => newRun(store, 'r5', 'c1', { retryOf: 'r1' }), /UNIQUE constraint failed/, 'and no third one');
});
