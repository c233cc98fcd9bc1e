// Canary plans, confirmations and deadlines in typed tables: fixed once, read back after a
// restart, and carried over from the kv rows an older version wrote.
import t from 'tap';
import { join } from 'node:path';
import { Store } from '../../src/adapters/sqlite/store.js';
import { tempDir } from '../helpers/tmp.js';

async function storeWithRun(t: Tap.Test, file = join(tempDir(t), 'upshift.db')): Promise<Store> {
  const store = Store.open(file, () => 1_000);
  await store.createRun({ id: 'r1', track: 'testnet', version: 'v1', ref: 'main', commit: 'c'.repeat(40), retryOf: null, createdAt: 1 });
  return store;
}

t.test('a plan, a confirmation and a deadline are fixed the first time and returned after', async (t) => {
  const store = await storeWithRun(t);
  t.teardown(() => store.close());
  t.equal(await store.plans.canaryPlan('r1'), undefined, 'not chosen yet');
  const plan = { canaries: ['web-2'], selection: 'one per region', selectedAt: 10, confirmBy: 610 };
  t.same(await store.plans.fixCanaryPlan('r1', plan, 10), plan);
  t.same(await store.plans.fixCanaryPlan('r1', { ...plan, canaries: ['web-9'] }, 20), plan, 'a second choice is ignored');
  await store.plans.recordCanaryConfirms('r1', { 'web-2': 50 });
  await store.plans.recordCanaryConfirms('r1', { 'web-2': 99 });
  t.same(await store.plans.canaryConfirms('r1'), { 'web-2': 50 }, 'the first confirmation stays');
  t.equal(await store.plans.fixDeadline('r1', 'deploy.progress', 700), 700);
  t.equal(await store.plans.fixDeadline('r1', 'deploy.progress', 900), 700, 'a restart gets the stored deadline back');
  t.throws(() => store.db.prepare("UPDATE run_deadlines SET at = 1").run(), /fixed/);
});

t.test('no candidates is remembered as such', async (t) => {
  const store = await storeWithRun(t);
  t.teardown(() => store.close());
  t.equal(await store.plans.fixCanaryPlan('r1', null, 10), null);
  t.equal(await store.plans.canaryPlan('r1'), null);
});

t.test('plans and deadlines an older version kept in kv are carried over', async (t) => {
  const file = join(tempDir(t), 'upshift.db');
  const old = await storeWithRun(t, file);
  old.db.exec('DROP TABLE canary_plans; DROP TABLE canary_confirms; DROP TABLE run_deadlines; DELETE FROM schema_migrations WHERE version = 7;');
  await old.kv.set('run:r1:canary', JSON.stringify({ canaries: ['web-2', 'web-3'], selection: 'spread', selectedAt: 10, confirmDeadline: 610 }));
  await old.kv.set('run:r1:canary:confirmed', JSON.stringify({ 'web-2': 40 }));
  await old.kv.set('run:r1:deploy:deadline', '900');
  old.close();
  const store = Store.open(file, () => 2_000);
  t.teardown(() => store.close());
  t.same(await store.plans.canaryPlan('r1'), { canaries: ['web-2', 'web-3'], selection: 'spread', selectedAt: 10, confirmBy: 610 });
  t.same(await store.plans.canaryConfirms('r1'), { 'web-2': 40 });
  t.equal(await store.plans.deadline('r1', 'deploy.progress'), 900);
  t.equal(await store.kv.get('run:r1:canary'), null, 'the kv rows are gone');
});
