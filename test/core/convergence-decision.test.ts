// DEPLOY's convergence decision as a table: who runs the release, who is behind and why,
// who is silent, and the one case where silent nodes are waited for after all.
import t from 'tap';
import { judgeConvergence } from '../../src/core/decisions/convergence.js';
import type { NodeTrackState } from '../../src/core/ports.js';

const n = (node: string, seq: number | null, state: string, note?: string): NodeTrackState =>
  ({ node, seq, version: seq === null ? null : `v${seq}`, state, ...(note ? { note } : {}) });

t.test('confirmed at the seq or later converges; anything else is behind with its reason', async (t) => {
  const c = judgeConvergence([n('a', 7, 'confirmed'), n('b', 8, 'confirmed'), n('c', 7, 'probation'), n('d', 6, 'confirmed'), n('e', null, 'idle')], 7,
    (node) => (node === 'c' ? 'waiting for min_healthy' : undefined));
  t.same(c.converged, ['a', 'b']);
  t.same(c.behind.map((b) => [b.node, b.why]), [['c', 'waiting for min_healthy'], ['d', 'at seq 6 (confirmed)'], ['e', 'at seq - (idle)']]);
  t.same(c.silent, []);
});

t.test('a rolled-back node is behind, with the note its state carries', async (t) => {
  const c = judgeConvergence([n('a', 7, 'rolled_back', 'health probe failed')], 7);
  t.same(c.behind, [{ node: 'a', seq: 7, state: 'rolled_back', why: 'health probe failed' }]);
});

t.test('silent nodes are listed, not waited for, while any node is live', async (t) => {
  const c = judgeConvergence([n('a', 7, 'confirmed'), n('b', 5, 'silent', 'no heartbeat for 40 s')], 7);
  t.same(c.converged, ['a']);
  t.same(c.behind, []);
  t.same(c.silent, [{ node: 'b', why: 'no heartbeat for 40 s' }]);
});

t.test('with every node silent nothing could confirm: they are waited for like any node behind', async (t) => {
  const c = judgeConvergence([n('a', 5, 'silent'), n('b', 5, 'silent')], 7);
  t.same(c.silent, []);
  t.same(c.behind.map((b) => b.node), ['a', 'b']);
});

t.test('no node runs the track: nothing converged, nothing behind', async (t) => {
  t.same(judgeConvergence([], 3), { nodes: [], converged: [], behind: [], silent: [] });
});
