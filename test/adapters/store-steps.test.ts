// The port methods that replaced a caller's transaction when the store went async (one call,
// one transaction): a deployment's step (reservations, compare-and-set, event), several
// benchmark captures at once. (An event appended only once, the promotion gate's marks, is a
// contract test: test/contract/run-facts-plans.test.ts.)
import t from 'tap';
import { join } from 'node:path';
import { Store } from '../../src/adapters/sqlite/store.js';
import { initialState } from '../../src/core/decisions/rollout.js';
import { resolvePolicy } from '../../src/core/deploy-policy.js';
import type { BenchmarkCapture } from '../../src/core/records.js';
import { tempDir } from '../helpers/tmp.js';

const open = (t: Tap.Test): Store => {
  const store = Store.open(join(tempDir(t), 'upshift.db'), () => 1_000);
  t.teardown(() => store.close());
  return store;
};

async function deployment(store: Store) {
  const policy = resolvePolicy(undefined, {}, { progress_deadline: 600_000, auto_revert: true });
  return store.deployments.create({
    id: 'dep-1', key: 'testnet', track: 'testnet', runId: null, kind: 'release', source: null,
    target: { version: 'v2', commit: 'c'.repeat(40), code_hash: 'd'.repeat(64), run: 'r2', number: null },
    strategy: policy.strategy, policy, urgent: false, status: 'running', state: initialState(10, []),
    rollbackTarget: null, rollbackOf: null, createdAt: 10,
  });
}

const step = (step: string) => ({
  step, track: 'testnet', targets: ['web-1'], deploymentId: 'ignored', at: 0, build: (seq: number) => new TextEncoder().encode(`seq ${seq}`),
});

t.test('a deployment step reserves, changes and records in one transaction, only at the rev it read', async (t) => {
  const store = open(t);
  const d = await deployment(store);
  const ok = await store.deployments.advance(d.id, d.rev, 20, (reserve) => {
    const m = reserve(step('wave-1'));
    const wave = { n: 1, kind: 'wave' as const, nodes: ['web-1'], step: 'wave-1', seq: m.seq, startedAt: 20, healthyAt: {}, doneAt: null };
    return { patch: { state: { ...d.state, waves: [wave] } }, event: { kind: 'wave', actor: 'rollout', outcome: 'accepted', data: {} } };
  });
  t.equal(ok, true);
  const after = await store.deployments.get(d.id);
  t.equal(after?.rev, d.rev + 1);
  t.same(after?.state.waves.map((w) => w.seq), [1], 'the state holds the seq reserved in the same transaction');
  t.same((await store.deployments.manifests(d.id)).map((m) => [m.step, m.seq, m.deploymentId]), [['wave-1', 1, d.id]]);
  t.same((await store.deployments.events(d.id)).map((e) => [e.kind, e.at]), [['wave', 20]]);

  let planned = false;
  const stale = await store.deployments.advance(d.id, d.rev, 30, (reserve) => {
    planned = true;
    reserve(step('wave-2'));
    return { patch: { status: 'failed' }, event: { kind: 'fail', actor: 'rollout', outcome: 'accepted', data: {} } };
  });
  t.equal(stale, false, 'a step on a stale rev is refused');
  t.notOk(planned, 'and not even planned');
  t.equal((await store.deployments.get(d.id))?.status, 'running');
  t.equal((await store.deployments.manifests(d.id)).length, 1, 'nothing reserved');

  await t.rejects(store.deployments.advance(d.id, d.rev + 1, 40, (reserve) => {
    reserve(step('wave-2'));
    throw new Error('signing failed');
  }), /signing failed/);
  t.equal((await store.deployments.manifests(d.id)).length, 1, 'a plan that throws leaves no reservation');
  t.equal((await store.deployments.get(d.id))?.rev, d.rev + 1, 'and no change');
});

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
