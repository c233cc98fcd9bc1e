// Canary plans, confirmations and deadlines carried over from the kv rows an older SQLite
// version wrote. (Fixed once, read back: a contract test, test/contract/run-facts-plans.test.ts.)
import t from 'tap';
import { join } from 'node:path';
import { Store } from '../../src/adapters/sqlite/store.js';
import { tempDir } from '../helpers/tmp.js';

async function storeWithRun(t: Tap.Test, file = join(tempDir(t), 'upshift.db')): Promise<Store> {
  const store = Store.open(file, () => 1_000);
  await store.createRun({ id: 'r1', track: 'testnet', version: 'v1', ref: 'main', commit: 'c'.repeat(40), retryOf: null, createdAt: 1 });
  return store;
}

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
