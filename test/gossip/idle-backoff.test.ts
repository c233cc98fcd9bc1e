import t from 'tap';
import { IdleBackoff } from '../../src/gossip/idle-backoff.js';

/** Which of `rounds` rounds push, for the states given per round. */
function pushes(b: IdleBackoff, states: string[]): number[] {
  return states.flatMap((s, i) => (b.shouldPush(s) ? [i] : []));
}

t.test('an idle node pushes every round at first, then less and less often, down to the cap', async (t) => {
  const b = new IdleBackoff(8);
  // round 0 is news; then gaps 1, 2, 4, 8, 8, ...
  t.same(pushes(b, Array(40).fill('same')), [0, 1, 3, 7, 15, 23, 31, 39]);
});

t.test('anything new pushes at once and starts the gaps over', async (t) => {
  const b = new IdleBackoff(8);
  const states = [...Array(20).fill('a'), 'b', ...Array(5).fill('b')];
  t.same(pushes(b, states), [0, 1, 3, 7, 15, 20, 21, 23]);
});

t.test('a cap of one round is the plain interval', async (t) => {
  const b = new IdleBackoff(1);
  t.same(pushes(b, Array(5).fill('x')), [0, 1, 2, 3, 4]);
});
