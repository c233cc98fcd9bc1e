// The benchmark registry on every adapter: repositories registered by name (re-pinned only
// from the same URL), captures saved one or several at once (all or none), newest first.
import t from 'tap';
import type { BenchmarkCapture, BenchmarkRepo } from '../../src/core/records.js';
import { eachStore } from './stores.js';
import './postgres.js';


const repo = (name: string, extra: Partial<BenchmarkRepo> = {}): BenchmarkRepo => ({
  name, repoUrl: `https://git.example/${name}.git`, ref: 'main', commit: 'a'.repeat(40), command: 'npm run bench',
  tier: 'fast', registeredAt: 1_700_000_000_000, registeredBy: 'cli:ann', ...extra,
});
const capture = (suite: string, extra: Partial<BenchmarkCapture> = {}): Omit<BenchmarkCapture, 'id'> => ({
  suite, version: 'v1', commit: 'c'.repeat(40), tier: 'fast',
  metrics: { rps: { value: 1.5, unit: 'req/s', better: 'higher' } } as BenchmarkCapture['metrics'],
  samples: [{ n: 1 }], createdAt: 5, actor: 'cli:t', ...extra,
});

await eachStore(t, 'a repository is registered once per name and re-pinned only from its own URL', async (t, store) => {
  await store.benchmarkRegistry.save(repo('web'));
  await store.benchmarkRegistry.save(repo('Api'));
  t.same(await store.benchmarkRegistry.repo('web'), repo('web'));
  t.equal(await store.benchmarkRegistry.repo('nope'), null);
  await store.benchmarkRegistry.save(repo('web', { ref: 'v2', commit: 'b'.repeat(40), tier: 'heavy', registeredAt: 9, registeredBy: 'agent' }));
  t.match(await store.benchmarkRegistry.repo('web'), { ref: 'v2', commit: 'b'.repeat(40), tier: 'heavy', registeredAt: 9, registeredBy: 'agent' });
  await store.benchmarkRegistry.save(repo('web', { repoUrl: 'https://evil.example/web.git', commit: 'e'.repeat(40) }));
  t.match(await store.benchmarkRegistry.repo('web'), { repoUrl: 'https://git.example/web.git', commit: 'b'.repeat(40) }, 'another URL does not take the name');
  t.same((await store.benchmarkRegistry.repos()).map((r) => r.name), ['Api', 'web'], 'by name');
  await t.rejects(store.benchmarkRegistry.save(repo('x', { tier: 'slow' as 'fast' })));
  t.equal(await store.benchmarkRegistry.repo('x'), null);
});

await eachStore(t, 'captures come back whole, newest first, at most the limit', async (t, store) => {
  const a = await store.benchmarkRegistry.saveCapture(capture('a'));
  const b = await store.benchmarkRegistry.saveCapture(capture('b', { createdAt: 6 }));
  t.ok(b > a);
  t.same(await store.benchmarkRegistry.captures(), [{ id: b, ...capture('b', { createdAt: 6 }) }, { id: a, ...capture('a') }]);
  t.same((await store.benchmarkRegistry.captures(1)).map((c) => c.id), [b]);
});

await eachStore(t, 'several captures are saved together or not at all', async (t, store) => {
  const ids = await store.benchmarkRegistry.saveCaptures([capture('a'), capture('b')]);
  t.equal(ids.length, 2);
  t.same((await store.benchmarkRegistry.captures()).map((x) => [x.id, x.suite]), [[ids[1], 'b'], [ids[0], 'a']]);
  await t.rejects(store.benchmarkRegistry.saveCaptures([capture('c'), capture(null as unknown as string)]), /not[ -]null/i);
  t.equal((await store.benchmarkRegistry.captures()).length, 2, 'the first of a failed pair is not kept');
  t.same(await store.benchmarkRegistry.saveCaptures([]), []);
});
