// openDb keeps each prepared statement by its SQL text (adapters/sqlite/db.ts): the same text
// gives the same statement back, as a fresh one would behave, and never one that is in use.
import t from 'tap';
import { join } from 'node:path';
import { openDb } from '../../src/adapters/sqlite/db.js';
import { tempDir } from '../helpers/tmp.js';

const SELECT = 'SELECT a FROM t ORDER BY a';

t.test('the same SQL gives the same statement, with pluck, raw and expand off again', async (t) => {
  const db = openDb(join(tempDir(t), 'state.db'));
  t.teardown(() => db.close());
  db.exec('CREATE TABLE t (a INTEGER)');
  for (const a of [1, 2]) db.prepare('INSERT INTO t VALUES (?)').run(a);
  t.equal(db.prepare(SELECT), db.prepare(SELECT), 'kept');
  t.same(db.prepare(SELECT).pluck().all(), [1, 2]);
  t.same(db.prepare(SELECT).all(), [{ a: 1 }, { a: 2 }], 'pluck does not stick');
  t.same(db.prepare(SELECT).raw().all(), [[1], [2]]);
  t.same(db.prepare(SELECT).expand().get(), { t: { a: 1 } });
  t.same(db.prepare(SELECT).get(), { a: 1 }, 'nor raw or expand');
});

t.test('a statement still iterating is not handed out again', async (t) => {
  const db = openDb(join(tempDir(t), 'state.db'));
  t.teardown(() => db.close());
  db.exec('CREATE TABLE t (a INTEGER)');
  for (const a of [1, 2, 3]) db.prepare('INSERT INTO t VALUES (?)').run(a);
  const open = db.prepare(SELECT).iterate() as IterableIterator<{ a: number }>;
  t.same(open.next().value, { a: 1 });
  t.same(db.prepare(SELECT).all(), [{ a: 1 }, { a: 2 }, { a: 3 }], 'a second statement for the same text');
  t.same(open.next().value, { a: 2 }, 'the first one goes on where it was');
  open.return?.();
});

t.test('a kept statement sees a schema changed after it was prepared', async (t) => {
  const db = openDb(join(tempDir(t), 'state.db'));
  t.teardown(() => db.close());
  db.exec('CREATE TABLE t (a INTEGER)');
  db.prepare('INSERT INTO t VALUES (?)').run(1);
  t.same(db.prepare('SELECT * FROM t').all(), [{ a: 1 }]);
  db.exec('ALTER TABLE t ADD COLUMN b TEXT DEFAULT \'x\'');
  t.same(db.prepare('SELECT * FROM t').all(), [{ a: 1, b: 'x' }]);
});
