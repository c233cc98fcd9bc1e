import t from 'tap';
import { judgeCanary, observeCanary, selectCanaries, soakStep, type CanaryCandidate, type CanaryObservation, type SoakCanary, type SoakInput } from '../../src/core/decisions/canary.js';
import type { NodeState } from '../../src/core/node-state.js';

const node = (id: string, region: string, extra: Partial<CanaryCandidate> = {}): CanaryCandidate => ({ id, labels: { region }, verified: true, healthy: true, ...extra });
const fleet = (n: number, regions = ['eu', 'us', 'ap']) => Array.from({ length: n }, (_, i) => node(`n${String(i).padStart(3, '0')}`, regions[i % regions.length] as string));

t.test('canary count is the fraction of eligible nodes rounded up, at least one', async (t) => {
  const cases: Array<[number, number, number]> = [
    // nodes, fraction, expected canaries
    [1, 0.1, 1], [4, 0.1, 1], [10, 0.1, 1], [11, 0.1, 2], [20, 0.1, 2], [21, 0.1, 3], [100, 0.1, 10], [5, 0.5, 3], [3, 1, 3],
  ];
  for (const [n, fraction, want] of cases) {
    t.equal(selectCanaries(fleet(n), { fraction, labels: ['region'], seed: 'r-1' }).canaries.length, want, `${n} nodes at ${fraction}`);
  }
});

t.test('only verified healthy nodes are candidates, and exclusions say why', async (t) => {
  const nodes = [node('a', 'eu', { verified: false }), node('b', 'eu', { healthy: false }), node('c', 'eu')];
  const s = selectCanaries(nodes, { fraction: 0.1, labels: [], seed: 'x' });
  t.same(s.canaries, ['c']);
  t.same(s.excluded, [{ id: 'a', why: 'not verified' }, { id: 'b', why: 'not healthy' }]);
  t.same(selectCanaries([node('a', 'eu', { healthy: false })], { fraction: 0.5, labels: [], seed: 'x' }).canaries, []);
});

t.test('selection is reproducible per run id and differs between run ids', async (t) => {
  const nodes = fleet(50);
  const a = selectCanaries(nodes, { fraction: 0.1, labels: ['region'], seed: 'r-abc' }).canaries;
  t.same(selectCanaries([...nodes].reverse(), { fraction: 0.1, labels: ['region'], seed: 'r-abc' }).canaries, a, 'input order does not matter');
  const others = ['r-1', 'r-2', 'r-3', 'r-4'].map((seed) => selectCanaries(nodes, { fraction: 0.1, labels: ['region'], seed }).canaries.join());
  t.ok(others.some((o) => o !== a.join()), 'another run picks another set');
});

t.test('canaries spread across label groups before doubling up', async (t) => {
  const s = selectCanaries(fleet(30), { fraction: 0.1, labels: ['region'], seed: 'r-9' });
  const regions = s.canaries.map((id) => fleet(30).find((n) => n.id === id)?.labels.region);
  t.same(new Set(regions).size, 3, `three canaries, one per region: ${regions.join(',')}`);
});

const obs = (nodeId: string, extra: Partial<CanaryObservation> = {}): CanaryObservation => ({ node: nodeId, lastHeartbeat: 1_000, healthOk: true, errorRate: 0.01, codeHash: 'h'.repeat(64), smokeRegressed: null, ...extra });
const opts = { now: 2_000, heartbeatTimeoutMs: 5_000, expectedCodeHash: 'h'.repeat(64), maxErrorIncrease: 0.5 };

t.test('the five criteria: each one alone fails the canary, naming the node', async (t) => {
  t.equal(judgeCanary([obs('a')], [{ errorRate: 0.01 }], opts).pass, true);
  const cases: Array<[string, CanaryObservation, RegExp]> = [
    ['error_rate', obs('a', { errorRate: 0.02 }), /error_rate: canary 0\.0200 vs control 0\.0100/],
    ['health', obs('a', { healthOk: false }), /health: health probe failing on a/],
    ['heartbeat', obs('a', { lastHeartbeat: null }), /heartbeat: no recent heartbeat from a/],
    ['code_hash', obs('a', { codeHash: 'e'.repeat(64) }), /code_hash: code hash differs .* on a \(eeeeeeeeeeee\)/],
    ['smoke_benchmark', obs('a', { smokeRegressed: true }), /smoke_benchmark: smoke benchmark regressed on a/],
  ];
  for (const [name, o, reason] of cases) {
    const v = judgeCanary([o], [{ errorRate: 0.01 }], opts);
    t.equal(v.pass, false, name);
    t.same(v.criteria.filter((c) => !c.ok).map((c) => c.name), [name]);
    t.match(v.reason, reason);
  }
});

t.test('a canary that rolled itself back reads as a rollback, not as a code-hash mismatch', async (t) => {
  // after its rollback it runs, and attests, the release it ran before
  const back = obs('a', { healthOk: false, probeOk: true, apply: 'rolled_back', applyReason: 'health failed 3 s into min_healthy: HTTP 500', codeHash: 'p'.repeat(64) });
  const v = judgeCanary([back, obs('b')], [{ errorRate: 0.01 }], opts);
  t.equal(v.pass, false, 'the canary fails');
  t.same(v.criteria.filter((c) => !c.ok).map((c) => c.name), ['health'], 'on its rollback alone');
  t.match(v.reason, /health: a rolled itself back \(health failed 3 s into min_healthy: HTTP 500\)/);
  t.notMatch(v.reason, /code hash differs/, 'no mismatch that reads like tampering');
  t.match(v.criteria.find((c) => c.name === 'code_hash')?.detail, /not compared: a rolled back to the previous release/);
  const still = judgeCanary([{ ...back, probeOk: false }], [], opts);
  t.match(still.reason, /health probe failing on a; a rolled itself back/, 'a probe still failing is named too');
  t.match(still.criteria.find((c) => c.name === 'code_hash')?.detail, /no canary runs the release/, 'with no canary on the release, the hash is unproven');
  const alone = judgeCanary([{ ...back, errorRate: null }], [{ errorRate: 0.01 }], opts);
  t.match(alone.reason, /^health: a rolled itself back .*; error_rate: no canary reported an error rate \(a rolled back\)/, 'the cause first, what followed from it after');
  const tampered = judgeCanary([back, obs('b', { codeHash: 'e'.repeat(64) })], [], opts);
  t.match(tampered.reason, /code_hash: code hash differs .* on b \(eeeeeeeeeeee\); not compared: a/, 'a real mismatch beside it still fails');
});

t.test('observeCanary reads a node state on the canary track', async (t) => {
  const state: NodeState = {
    node: 'a', heardAt: 1_500, labels: {}, health: 'ok', errorRate: 0.02, smoke: { regressed: false, detail: 'ok' },
    tracks: { testnet: { version: 'v2', seq: 6, apply: 'confirmed', reason: null, codeHash: 'h'.repeat(64) } },
  };
  t.same(observeCanary('a', state, 'testnet'), {
    node: 'a', lastHeartbeat: 1_500, healthOk: true, probeOk: true, errorRate: 0.02, codeHash: 'h'.repeat(64), smokeRegressed: false, apply: 'confirmed', applyReason: null,
  });
  t.match(observeCanary('a', { ...state, tracks: { testnet: { ...state.tracks.testnet!, apply: 'probation' } } }, 'testnet'), { healthOk: false, probeOk: true });
  t.match(observeCanary('a', undefined, 'testnet'), { lastHeartbeat: null, healthOk: false, codeHash: null, apply: null });
  t.equal(judgeCanary([observeCanary('a', state, 'testnet')], [], opts).pass, true);
});

t.test('the error rate is judged against the control group over the same window', async (t) => {
  t.equal(judgeCanary([obs('a', { errorRate: 0.014 })], [{ errorRate: 0.01 }, { errorRate: 0.01 }], opts).pass, true, '+40% is within +50%');
  t.equal(judgeCanary([obs('a', { errorRate: 0.0165 })], [{ errorRate: 0.01 }], opts).pass, false, '+65% is not');
  t.equal(judgeCanary([obs('a', { errorRate: 0.0005 })], [{ errorRate: 0 }], opts).pass, true, 'absolute slack over a clean control group');
  t.equal(judgeCanary([obs('a', { errorRate: null })], [{ errorRate: 0 }], opts).pass, false, 'a canary that reports no error rate cannot pass');
  t.match(judgeCanary([obs('a')], [], opts).criteria[0]?.detail, /no control group/);
});

t.test('a stale heartbeat fails even when it once arrived', async (t) => {
  const v = judgeCanary([obs('a', { lastHeartbeat: 0 })], [], { ...opts, now: 10_000 });
  t.equal(v.pass, false);
});

t.test('soakStep: each canary soaks from its confirm, a late confirm fails by name, and no verdict on heartbeats from before the driver', async (t) => {
  const M = 60_000;
  // the driver started at 0; selected at 0, confirm deadline at 10 min, soak 5 min, heartbeat timeout 30 s
  const c = (node: string, state: string | null, heardAt: number | null = 0): SoakCanary => ({ node, heardAt, state, last: `${state ?? 'idle'} #6` });
  const input = (now: number, canaries: SoakCanary[], confirmedAt: Record<string, number> = {}, watchingSince = 0): SoakInput => ({
    now, canaries, confirmedAt, confirmDeadline: 10 * M, confirmWithinMs: 10 * M, soakMs: 5 * M, watchingSince, heartbeatTimeoutMs: 30_000,
  });
  const cases: Array<{ name: string; in: SoakInput; want: Record<string, unknown> }> = [
    { name: 'still applying: wait for the confirm, up to the confirm deadline', in: input(1 * M, [c('a', 'fetching')]), want: { kind: 'wait', until: 10 * M, confirmedAt: {} } },
    { name: 'not begun yet (reports an older seq)', in: input(1 * M, [c('a', null)]), want: { kind: 'wait', until: 10 * M } },
    { name: 'confirmed now: recorded, and its soak starts now', in: input(7 * M, [c('a', 'confirmed')]), want: { kind: 'wait', until: 12 * M, confirmedAt: { a: 7 * M } } },
    { name: 'a stored confirm is kept: the soak continues from it', in: input(9 * M, [c('a', 'confirmed', 9 * M)], { a: 7 * M }), want: { kind: 'wait', until: 12 * M, confirmedAt: { a: 7 * M } } },
    { name: 'the soak ends after the last canary to confirm', in: input(12 * M, [c('a', 'confirmed', 12 * M), c('b', 'confirmed', 12 * M)], { a: 7 * M, b: 9 * M }), want: { kind: 'wait', until: 14 * M } },
    { name: 'soaked: judge', in: input(14 * M, [c('a', 'confirmed', 14 * M), c('b', 'confirmed', 14 * M)], { a: 7 * M, b: 9 * M }), want: { kind: 'judge', soakEnd: 14 * M } },
    { name: 'past the confirm deadline: fails by name, with what it last said', in: input(10 * M, [c('a', 'confirmed', 10 * M), c('b', 'probation', 10 * M)], { a: 2 * M }), want: { kind: 'unconfirmed', nodes: ['b'], why: 'canary b did not confirm the release within 600 s (last heard: probation #6)' } },
    { name: 'a canary that rolled itself back: judge at once', in: input(3 * M, [c('a', 'rolled_back'), c('b', 'fetching')]), want: { kind: 'judge', soakEnd: null, why: 'a rolled itself back' } },
    // a restarted driver (watching since 60 min) finds heartbeats from before it started
    { name: 'restarted after the soak: waits for fresh heartbeats', in: input(60 * M, [c('a', 'confirmed', 8 * M)], { a: 7 * M }, 60 * M), want: { kind: 'wait', until: 60 * M + 30_000 } },
    { name: 'restarted: judges once every canary was heard since', in: input(60 * M + 5_000, [c('a', 'confirmed', 60 * M + 4_000)], { a: 7 * M }, 60 * M), want: { kind: 'judge' } },
    { name: 'restarted: a canary still silent after heartbeat_timeout is judged (silent)', in: input(60 * M + 30_000, [c('a', 'confirmed', 8 * M)], { a: 7 * M }, 60 * M), want: { kind: 'judge' } },
    { name: 'restarted past the confirm deadline: a stale "applying" is not a failure yet', in: input(60 * M, [c('a', 'fetching', 5 * M)], {}, 60 * M), want: { kind: 'wait', until: 60 * M + 30_000 } },
    { name: 'restarted: confirmed in a fresh heartbeat, so its soak starts now', in: input(60 * M + 2_000, [c('a', 'confirmed', 60 * M + 1_000)], {}, 60 * M), want: { kind: 'wait', until: 65 * M + 2_000, confirmedAt: { a: 60 * M + 2_000 } } },
    { name: 'restarted: a stale rollback report waits for a fresh one', in: input(60 * M, [c('a', 'rolled_back', 5 * M)], {}, 60 * M), want: { kind: 'wait' } },
  ];
  for (const k of cases) t.match(soakStep(k.in), k.want, k.name);
});
