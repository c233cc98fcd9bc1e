// DEPLOY's convergence decision as a table over node states as the read model keeps them:
// who runs the release, who is behind and why, who is silent, and the one case where
// silent nodes are waited for after all.
import t from 'tap';
import { judgeConvergence } from '../../src/core/decisions/convergence.js';
import type { NodeState, TrackState } from '../../src/core/node-state.js';

const NOW = 1_000_000;
const opts = { now: NOW, silentAfterMs: 30_000 };

/** A node on testnet at `seq` in apply state `apply`, heard `agoMs` ago. */
const n = (node: string, seq: number | null, apply: string, extra: { reason?: string; agoMs?: number } = {}): NodeState => ({
  node, heardAt: NOW - (extra.agoMs ?? 0), labels: {}, health: 'ok', errorRate: 0, smoke: null,
  tracks: { testnet: { seq, version: seq === null ? null : `v${seq}`, apply, reason: extra.reason ?? null, codeHash: null } },
});
const noApp = (node: string): NodeState => ({ ...n(node, null, 'idle'), tracks: {} });

t.test('the table: confirmed at the seq or later converges; anything else is behind with its reason', async (t) => {
  const cases: Array<[string, NodeState[], { converged: string[]; behind: Array<[string, string]>; silent: Array<[string, string]> }]> = [
    ['confirmed at the seq', [n('a', 7, 'confirmed')], { converged: ['a'], behind: [], silent: [] }],
    ['confirmed above the seq', [n('a', 8, 'confirmed')], { converged: ['a'], behind: [], silent: [] }],
    ['confirmed below the seq', [n('a', 6, 'confirmed')], { converged: [], behind: [['a', 'at seq 6 (confirmed)']], silent: [] }],
    ['still in probation', [n('a', 7, 'probation')], { converged: [], behind: [['a', 'at seq 7 (probation)']], silent: [] }],
    ['never applied', [n('a', null, 'idle')], { converged: [], behind: [['a', 'at seq - (idle)']], silent: [] }],
    ['rolled back, with its reason', [n('a', 7, 'rolled_back', { reason: 'health probe failed' })],
      { converged: [], behind: [['a', 'health probe failed']], silent: [] }],
    ['confirmed below the seq, with a reason', [n('a', 6, 'confirmed', { reason: 'refused #7: marked bad' })],
      { converged: [], behind: [['a', 'refused #7: marked bad']], silent: [] }],
    ['heard exactly at the bound is live', [n('a', 7, 'confirmed', { agoMs: 30_000 })], { converged: ['a'], behind: [], silent: [] }],
    ['silent beside a live node: listed, not waited for', [n('a', 7, 'confirmed'), n('b', 5, 'confirmed', { agoMs: 40_000 })],
      { converged: ['a'], behind: [], silent: [['b', 'no heartbeat for 40 s (last state confirmed)']] }],
    ['every node silent: waited for like any node behind', [n('a', 5, 'confirmed', { agoMs: 31_000 }), n('b', 7, 'confirmed', { agoMs: 60_000 })],
      { converged: [], behind: [['a', 'no heartbeat for 31 s (last state confirmed)'], ['b', 'no heartbeat for 60 s (last state confirmed)']], silent: [] }],
    ['a node without an app is not judged', [noApp('relay'), n('a', 7, 'confirmed')], { converged: ['a'], behind: [], silent: [] }],
    ['nobody runs the track', [noApp('relay')], { converged: [], behind: [], silent: [] }],
  ];
  for (const [name, states, want] of cases) {
    const c = judgeConvergence(states, 'testnet', 7, opts);
    t.same({ converged: c.converged, behind: c.behind.map((b) => [b.node, b.why]), silent: c.silent.map((s) => [s.node, s.why]) }, want, name);
  }
});

t.test('a node on another track only does not count for this one', async (t) => {
  const prod: TrackState = { seq: 3, version: 'v3', apply: 'confirmed', reason: null, codeHash: null };
  const c = judgeConvergence([{ ...n('p', null, 'idle'), tracks: { production: prod } }, n('a', 7, 'confirmed')], 'testnet', 7, opts);
  t.same(c.nodes.map((x) => x.node), ['a']);
});

t.test('the judged nodes say state, seq and version, and a silent one why', async (t) => {
  const c = judgeConvergence([n('a', 7, 'rolled_back', { reason: 'HTTP 500' }), n('b', 5, 'confirmed', { agoMs: 95_000 })], 'testnet', 7, opts);
  t.same(c.nodes, [{ node: 'a', seq: 7, version: 'v7', state: 'rolled_back', note: 'HTTP 500' }]);
  t.same(c.behind, [{ node: 'a', seq: 7, state: 'rolled_back', why: 'HTTP 500' }]);
  t.same(c.silent, [{ node: 'b', why: 'no heartbeat for 95 s (last state confirmed)' }]);
  t.same(judgeConvergence([], 'testnet', 3, opts), { nodes: [], converged: [], behind: [], silent: [] });
});
