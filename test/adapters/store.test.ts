import t from 'tap';
import { MIGRATIONS } from '../../src/adapters/sqlite/migrations.js';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openDb } from '../../src/adapters/sqlite/db.js';
import { Store } from '../../src/adapters/sqlite/store.js';
import type { StageResult } from '../../src/core/run.js';
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

const finish = async (store: Store, runId: string, status: 'completed' | 'failed', at: number) =>
  await store.saveSnapshot({ runId, machineVersion: 1, state: status, status, snapshot: {}, reason: null, code: null, at });

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
  const child = `const { openDb } = await import(${JSON.stringify(pathToFileURL(repoPath('src', 'adapters', 'sqlite', 'db.ts')).href)});
    const { existsSync } = await import('node:fs');
    console.log('ready');
    while (!existsSync(${JSON.stringify(go)})) {}
    try { openDb(${JSON.stringify(file)}).close(); console.log('opened'); } catch (err) { console.log('failed: ' + (err.cause?.code ?? err.code) + ' ' + err.message); }`;
  // only the TypeScript loader of this test process: no coverage hooks in the children
  const tsLoader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
  const outputs: Array<Promise<string>> = [];
  const ready: Array<Promise<void>> = [];
  for (let i = 0; i < 6; i++) {
    const proc = spawnChild(t, process.execPath, [...tsLoader, '--input-type=module', '-e', child], { stdio: ['ignore', 'pipe', 'inherit'], env: { TS_NODE_TRANSPILE_ONLY: '1' } });
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

t.test('events are append-only: UPDATE and DELETE are refused by triggers', async (t) => {
  const { store } = freshStore(t);
  await store.appendEvent({ at: 1, runId: null, stage: null, kind: 'note', actor: 'test', data: { n: 1 } });
  t.throws(() => store.db.prepare("UPDATE events SET kind = 'edited'").run(), /events are append-only/);
  t.throws(() => store.db.prepare('DELETE FROM events').run(), /events are append-only/);
  t.match(await store.events(), [{ seq: 1, kind: 'note', actor: 'test', data: { n: 1 } }]);
});

t.test('a version runs once per track; only a retry may run it again', async (t) => {
  const { store } = freshStore(t);
  t.match(await newRun(store, 'r1', 'v1.0.0'), { status: 'pending', stage: 'idle', retryOf: null, finishedAt: null });
  await t.rejects(() => newRun(store, 'r2', 'v1.0.0'), /UNIQUE constraint failed/);
  t.ok(await newRun(store, 'r3', 'v1.0.0', { track: 'production' }), 'the same version on another track is a separate run');
  t.equal((await newRun(store, 'r4', 'v1.0.0', { retryOf: 'r1', at: 2_000 })).retryOf, 'r1');
  t.equal((await store.findRun('testnet', 'v1.0.0'))?.id, 'r4', 'the retry is the run found for the version');
  t.same(await store.versionsSeen('testnet'), ['v1.0.0']);
});

t.test('a run has at most one retry: the store refuses a second, and retry_of never changes', async (t) => {
  const { store } = freshStore(t);
  await newRun(store, 'r1', 'v1.0.0');
  t.equal(await store.findRetry('r1'), null);
  await newRun(store, 'r2', 'v1.0.0', { retryOf: 'r1', at: 2_000 });
  await t.rejects(() => newRun(store, 'r3', 'v1.0.0', { retryOf: 'r1', at: 3_000 }), /UNIQUE constraint failed: run_retries\.retry_of/);
  t.equal(await store.getRun('r3'), null, 'the refused retry left no run behind');
  t.equal((await store.findRetry('r1'))?.id, 'r2');
  t.ok(await newRun(store, 'r4', 'v1.0.0', { retryOf: 'r2', at: 4_000 }), 'a retry may itself be retried once');
  t.throws(() => store.db.prepare("UPDATE runs SET retry_of = 'r4' WHERE id = 'r3' OR id = 'r2'").run(), /retry_of is fixed/);
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

t.test('the last stable release is the newest completed run of the track, excluding the given run', async (t) => {
  const { store } = freshStore(t);
  for (const [id, v] of [['r1', 'v1'], ['r2', 'v2'], ['r3', 'v3']] as const) await newRun(store, id, v);
  await newRun(store, 'p1', 'v9', { track: 'production' });
  await finish(store, 'r1', 'completed', 10);
  await finish(store, 'r2', 'completed', 20);
  await finish(store, 'r3', 'failed', 30);
  await finish(store, 'p1', 'completed', 40);
  t.equal((await store.lastStable('testnet'))?.id, 'r2');
  t.equal((await store.lastStable('testnet', 'r2'))?.id, 'r1');
  t.equal(await store.lastStable('staging'), null);
});

t.test('a snapshot moves the run with it, stamps terminal runs once and logs only real state changes', async (t) => {
  const { store } = freshStore(t);
  await newRun(store, 'r1', 'v1');
  const save = async (state: string, status: 'running' | 'completed', at: number, snapshot: unknown) =>
    await store.saveSnapshot({ runId: 'r1', machineVersion: 3, state, status, snapshot, reason: status === 'completed' ? 'all stages passed' : null, code: null, at });
  await save('building', 'running', 10, { step: 1 });
  t.match(await store.getRun('r1'), { status: 'running', stage: 'building', updatedAt: 10, finishedAt: null });
  await save('building', 'running', 20, { step: 2 });
  t.same(await store.loadSnapshot('r1'), { machineVersion: 3, state: 'building', snapshot: { step: 2 } });
  await save('completed', 'completed', 30, { step: 3 });
  await save('completed', 'completed', 40, { step: 4 });
  t.match(await store.getRun('r1'), { status: 'completed', stage: 'completed', reason: 'all stages passed', updatedAt: 40, finishedAt: 30 });
  t.same((await store.events({ runId: 'r1' })).map((e) => [e.kind, e.data.from, e.data.to, e.at]), [
    ['run.state', 'idle', 'building', 10],
    ['run.state', 'building', 'completed', 30],
  ]);
  await t.rejects(async () => await store.saveSnapshot({ runId: 'ghost', machineVersion: 1, state: 'building', status: 'running', snapshot: {}, reason: null, code: null, at: 1 }), /FOREIGN KEY/);
  t.equal((await store.unfinishedRuns()).length, 0);
});

const result = (outcome: StageResult['outcome'], reason: string): StageResult =>
  ({ runId: 'r1', stage: 'test', outcome, reason, evidence: { passed: 40 }, startedAt: 5, finishedAt: 9, attempts: 1 });

t.test('a stage result is recorded once: a second record throws and the first is kept', async (t) => {
  const { store } = freshStore(t);
  await newRun(store, 'r1', 'v1');
  await store.recordStageResult(result('passed', 'pass rate 1.000'));
  await t.rejects(async () => await store.recordStageResult(result('failed', 'flaky rerun')), /UNIQUE constraint failed/);
  t.same(await store.getStageResult('r1', 'test'), result('passed', 'pass rate 1.000'));
  t.equal((await store.stageResults('r1')).length, 1);
  t.same((await store.events({ runId: 'r1' })).map((e) => e.kind), ['stage.result'], 'the refused record logs nothing');
});

t.test('attempts count up per stage and remember the first start and any stray pid', async (t) => {
  const { store } = freshStore(t);
  await newRun(store, 'r1', 'v1');
  t.same(await store.startAttempt('r1', 'build', 100), { attempt: 1, firstStartedAt: 100 });
  await store.setAttemptPid('r1', 'build', 1, 4242);
  t.same(await store.startAttempt('r1', 'build', 200), { attempt: 2, firstStartedAt: 100 });
  t.same(await store.startAttempt('r1', 'test', 300), { attempt: 1, firstStartedAt: 300 });
  t.same(await store.strayPids('r1'), [{ stage: 'build', attempt: 1, pid: 4242 }]);
  await store.setAttemptPid('r1', 'build', 1, null);
  t.same(await store.strayPids('r1'), []);
});

t.test('leases: a live holder blocks others, an expired or dead one is taken over, only the owner releases', async (t) => {
  const { store } = freshStore(t);
  await newRun(store, 'r1', 'v1');
  const asked: number[] = [];
  const alive = (answer: boolean) => (pid: number) => (asked.push(pid), answer);
  t.ok(await store.acquireLease('r1', 'daemon', 100, 1_000, 0, alive(true)));
  t.notOk(await store.acquireLease('r1', 'cli', 200, 2_000, 500, alive(true)), 'a live, unexpired holder blocks');
  t.same(asked, [100], 'the holder pid is the one checked');
  t.ok(await store.acquireLease('r1', 'daemon', 100, 1_500, 600, alive(true)), 'the holder renews');
  t.ok(await store.acquireLease('r1', 'cli', 200, 3_000, 1_500, alive(true)), 'an expired lease is taken over');
  t.same(await store.leaseHolder('r1'), { owner: 'cli', pid: 200, until: 3_000 });
  t.ok(await store.acquireLease('r1', 'daemon', 300, 4_000, 1_600, alive(false)), 'a dead holder is taken over');
  await store.releaseLease('r1', 'cli');
  t.equal((await store.leaseHolder('r1'))?.owner, 'daemon', 'a non-owner cannot release');
  await store.releaseLease('r1', 'daemon');
  t.equal(await store.leaseHolder('r1'), null);
  await t.rejects(async () => await store.acquireLease('ghost', 'cli', 1, 2, 0, alive(true)), { code: 'E_RUN_NOT_FOUND' });
});
