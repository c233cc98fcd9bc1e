// The port methods that replaced a caller's transaction when the store went async (one call,
// one transaction): several benchmark captures at once. (A deployment's step and an event
// appended only once are contract tests, on both adapters: test/contract/deployments.test.ts,
// test/contract/run-facts-plans.test.ts.)
import t from 'tap';
import { join } from 'node:path';
import { Store } from '../../src/adapters/sqlite/store.js';
import type { BenchmarkCapture } from '../../src/core/records.js';
import { tempDir } from '../helpers/tmp.js';

const open = (t: Tap.Test): Store => {
  const store = Store.open(join(tempDir(t), 'upshift.db'), () => 1_000);
  t.teardown(() => store.close());
  return store;
};

t.test('several captures are saved together or not at all', async (t) => {
  const store = open(t);
  const c = (suite: string): Omit<BenchmarkCapture, 'id'> => ({
    suite, version: 'v1', commit: 'c'.repeat(40), tier: 'fast',
    metrics: { rps: { value: 1, unit: 'req/s', better: 'higher' } } as BenchmarkCapture['metrics'],
    samples: [], createdAt: 5, actor: 'cli:t',
  });
  const ids = await store.benchmarkRegistry.saveCaptures([c('a'), c('b')]);
  t.equal(ids.length, 2);
  t.same((await store.benchmarkRegistry.captures()).map((x) => [x.id, x.suite]), [[ids[1], 'b'], [ids[0], 'a']]);
  await t.rejects(store.benchmarkRegistry.saveCaptures([c('c'), c(null as unknown as string)]), /NOT NULL/);
  t.equal((await store.benchmarkRegistry.captures()).length, 2, 'the first of a failed pair is not kept');
});
