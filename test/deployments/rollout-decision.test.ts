// The rollout decision (core/decisions/rollout.ts), table-tested: waves of max_parallel,
// the next wave only after the last is healthy (+ stagger), healthy_deadline,
// progress_deadline, canary waiting for promote, nodes waiting for their window, pause.
import t from 'tap';
import { POLICY_DEFAULTS, type DeployPolicy } from '../../src/core/deploy-policy.js';
import {
  decideRollout, inFlight, initialState, resumeState, type ObservedNode, type RolloutState,
} from '../../src/core/decisions/rollout.js';

const T0 = 1_000_000;
const policy = (p: Partial<DeployPolicy> = {}): DeployPolicy => ({ ...POLICY_DEFAULTS, max_parallel: 2, ...p });
const node = (id: string, o: Partial<ObservedNode> = {}): ObservedNode => ({ id, live: true, version: 'v1', seq: 1, state: 'confirmed', health: 'ok', waiting: false, ...o });
const fleet = (n: number) => Array.from({ length: n }, (_, i) => node(`n${i + 1}`));
/** State with wave 1 (n1, n2) started at T0 on seq 5. */
const inWave1 = (): RolloutState => ({
  ...initialState(T0, []), waves: [{ n: 1, kind: 'wave', nodes: ['n1', 'n2'], step: 'wave-1', seq: 5, startedAt: T0, healthyAt: {}, doneAt: null }],
});
const onV2 = (id: string, o: Partial<ObservedNode> = {}) => node(id, { version: 'v2', seq: 5, ...o });

t.test('decisions, one row per situation', async (t) => {
  const rows: Array<{ name: string; now: number; p?: Partial<DeployPolicy>; state: RolloutState; nodes: ObservedNode[]; kind: string; why?: RegExp; nodesMoved?: string[] }> = [
    { name: 'first wave: max_parallel nodes, by id', now: T0, state: initialState(T0, []), nodes: fleet(6), kind: 'wave', nodesMoved: ['n1', 'n2'] },
    { name: 'a percentage rounds up', now: T0, p: { max_parallel: '30%' }, state: initialState(T0, []), nodes: fleet(8), kind: 'wave', nodesMoved: ['n1', 'n2', 'n3'] },
    { name: 'silent nodes are not moved', now: T0, state: initialState(T0, []), nodes: [node('n1', { live: false }), node('n2'), node('n3')], kind: 'wave', nodesMoved: ['n2', 'n3'] },
    { name: 'wave in flight: wait', now: T0 + 1000, state: inWave1(), nodes: [onV2('n1'), node('n2', { seq: 5, state: 'probation' }), ...fleet(6).slice(2)], kind: 'wait', why: /waiting for n2/ },
    { name: 'an old confirm (lower seq) is not this wave', now: T0 + 1000, state: inWave1(), nodes: [node('n1', { version: 'v2', seq: 4 }), onV2('n2'), ...fleet(6).slice(2)], kind: 'wait', why: /waiting for n1/ },
    { name: 'wave healthy: the next starts with the next two', now: T0 + 1000, state: inWave1(), nodes: [onV2('n1'), onV2('n2'), ...fleet(6).slice(2)], kind: 'wave', nodesMoved: ['n3', 'n4'] },
    { name: 'stagger holds the next wave', now: T0 + 1000, p: { stagger: 30_000 }, state: inWave1(), nodes: [onV2('n1'), onV2('n2'), ...fleet(6).slice(2)], kind: 'wait', why: /stagger/ },
    { name: 'healthy but failing health is not healthy', now: T0 + 1000, state: inWave1(), nodes: [onV2('n1', { health: 'failing' }), onV2('n2'), ...fleet(4).slice(2)], kind: 'wait' },
    { name: 'health_check agent_states: the confirmation alone counts', now: T0 + 1000, p: { health_check: 'agent_states' }, state: inWave1(), nodes: [onV2('n1', { health: 'failing' }), onV2('n2', { health: 'unknown' }), ...fleet(4).slice(2)], kind: 'wave', nodesMoved: ['n3', 'n4'] },
    { name: 'health_check agent_states: not yet confirmed still waits', now: T0 + 1000, p: { health_check: 'agent_states' }, state: inWave1(), nodes: [onV2('n1'), node('n2', { seq: 5, state: 'probation' }), ...fleet(4).slice(2)], kind: 'wait', why: /waiting for n2/ },
    { name: 'a wave node rolled back: fail', now: T0 + 1000, state: inWave1(), nodes: [onV2('n1', { state: 'rolled_back', version: 'v1', reason: 'health failed' }), onV2('n2')], kind: 'fail', why: /n1 rolled back v2: health failed/ },
    { name: 'in probation past healthy_deadline + min_healthy after its switch: fail', now: T0 + 310_001, state: { ...inWave1(), waves: [{ ...inWave1().waves[0]!, switchedAt: { n2: T0 } }] }, nodes: [onV2('n1'), node('n2', { seq: 5, state: 'probation' })], kind: 'fail', why: /n2 not healthy by the healthy_deadline/ },
    { name: 'still fetching long after the wave started: not late, progress_deadline decides', now: T0 + 310_001, state: inWave1(), nodes: [onV2('n1'), node('n2', { seq: 5, state: 'staged' })], kind: 'wait' },
    { name: 'a switch is noted when first seen', now: T0 + 5000, state: inWave1(), nodes: [onV2('n1'), node('n2', { seq: 5, state: 'switching' })], kind: 'wait' },
    { name: 'no progress within progress_deadline: fail', now: T0 + 200_000, p: { progress_deadline: 100_000, healthy_deadline: 100_000, min_healthy: 0 }, state: { ...inWave1(), waves: [{ ...inWave1().waves[0]!, startedAt: T0 + 150_000, healthyAt: { n1: T0 + 150_000 } }] }, nodes: [onV2('n1'), node('n2', { seq: 5, state: 'staged' })], kind: 'fail', why: /no progress/ },
    { name: 'a node waiting for its window is neither failed nor late', now: T0 + 900_000, state: inWave1(), nodes: [onV2('n1'), node('n2', { waiting: true })], kind: 'wait', why: /maintenance window: n2/ },
    { name: 'everyone moved and healthy: complete', now: T0 + 1000, state: inWave1(), nodes: [onV2('n1'), onV2('n2')], kind: 'complete' },
    { name: 'no live node: complete (held for gossip)', now: T0, state: initialState(T0, []), nodes: [], kind: 'complete', why: /no live node/ },
    { name: 'canary: the canary wave first, pre-moved nodes count', now: T0, p: { strategy: 'canary', canary: 2 }, state: initialState(T0, ['n4']), nodes: [...fleet(3), onV2('n4')], kind: 'wave', nodesMoved: ['n4', 'n1'] },
  ];
  for (const r of rows) {
    const d = decideRollout({ now: r.now, policy: policy(r.p), state: r.state, nodes: r.nodes, targetVersion: 'v2' });
    t.equal(d.kind, r.kind, r.name);
    if (r.why) t.match((d as { why: string }).why, r.why, `${r.name}: why`);
    if (r.nodesMoved) t.same(d.kind === 'wave' ? d.wave.nodes : null, r.nodesMoved, `${r.name}: nodes`);
  }
});

t.test('canary: healthy canary wave waits for promote unless auto_promote', async (t) => {
  const state: RolloutState = { ...initialState(T0, []), waves: [{ n: 1, kind: 'canary', nodes: ['n1'], step: 'wave-1', seq: 5, startedAt: T0, healthyAt: {}, doneAt: null }] };
  const nodes = [onV2('n1'), node('n2'), node('n3')];
  const p = policy({ strategy: 'canary', canary: 1 });
  t.equal(decideRollout({ now: T0 + 1, policy: p, state, nodes, targetVersion: 'v2' }).kind, 'await_promote');
  t.equal(decideRollout({ now: T0 + 1, policy: p, state: { ...state, promoted: true }, nodes, targetVersion: 'v2' }).kind, 'wave', 'promoted: the rest follow');
  t.equal(decideRollout({ now: T0 + 1, policy: { ...p, auto_promote: true }, state, nodes, targetVersion: 'v2' }).kind, 'wave', 'auto_promote');
});

t.test('in flight never exceeds max_parallel through a whole simulated rollout', async (t) => {
  let state = initialState(T0, []);
  const nodes = fleet(8);
  let now = T0;
  let max = 0;
  for (let i = 0; i < 100; i++) {
    const d = decideRollout({ now, policy: policy(), state, nodes, targetVersion: 'v2' });
    state = d.state;
    if (d.kind === 'complete') break;
    if (d.kind === 'wave') state.waves.push({ ...d.wave, step: `wave-${d.wave.n}`, seq: 10 + d.wave.n });
    max = Math.max(max, inFlight(state).length);
    // the nodes of the wave in flight confirm one step later
    for (const id of inFlight(state)) Object.assign(nodes.find((n) => n.id === id)!, { version: 'v2', seq: 10 + state.waves.length });
    now += 1000;
  }
  t.equal(max, 2, 'at most 2 nodes moving at once');
  t.equal(state.waves.length, 4, '8 nodes in 4 waves of 2');
  t.ok(nodes.every((n) => n.version === 'v2'));
});

t.test('resume moves the deadlines by the paused time', async (t) => {
  const s = { ...inWave1(), pausedAt: T0 + 10_000 };
  const r = resumeState(s, T0 + 70_000);
  t.equal(r.waves[0]!.startedAt, T0 + 60_000);
  t.equal(r.lastProgress, T0 + 60_000);
  t.equal(r.pausedAt, null);
});
