// The held set of one track (src/gossip/held.ts), table-tested: what a node keeps for gossip
// so every node can learn the newest manifest that targets it.
import t from 'tap';
import { admit, newestFor, worthPulling, type HeldRef } from '../../src/gossip/held.js';

const m = (seq: number, targets: 'all' | string[] = 'all'): HeldRef => ({ seq, hash: `h${seq}${targets === 'all' ? '' : targets.join('')}`, targets });
const seqs = (held: readonly HeldRef[]) => held.map((h) => h.seq);

t.test('admit, table', async (t) => {
  const cases: Array<{ name: string; held: HeldRef[]; add: HeldRef; max?: number; want: 'same' | string | number[] }> = [
    { name: 'the first manifest is held', held: [], add: m(1), want: [1] },
    { name: 'a newer fleet-wide one replaces everything below it', held: [m(4, ['n1']), m(1)], add: m(5), want: [5] },
    { name: 'a rolled-back canary: the fleet-wide release stays beside the rollback', held: [m(3, ['n1']), m(1)], add: m(4, ['n1']), want: [4, 1] },
    { name: 'the canary manifest is superseded by the rollback to the same canaries', held: [m(4, ['n1']), m(1)], add: m(3, ['n1']), want: 'E_ROLLBACK' },
    { name: 'a late joiner may learn the fleet-wide one after the targeted one', held: [m(4, ['n1'])], add: m(1), want: [4, 1] },
    { name: 'older than the fleet-wide one held', held: [m(4)], add: m(2, ['n1']), want: 'E_ROLLBACK' },
    { name: 'an old fleet-wide one replayed', held: [m(4)], add: m(1), want: 'E_ROLLBACK' },
    { name: 'same bytes', held: [m(4)], add: m(4), want: 'same' },
    { name: 'same seq, other bytes', held: [m(4)], add: { seq: 4, hash: 'other', targets: 'all' }, want: 'E_SEQ_CONFLICT' },
    { name: 'rollbacks to disjoint canary sets are all kept', held: [m(4, ['n1']), m(1)], add: m(7, ['n2']), want: [7, 4, 1] },
    { name: 'a rollback that covers an older one drops it', held: [m(4, ['n1']), m(1)], add: m(7, ['n1', 'n2']), want: [7, 1] },
    { name: 'partly covered: kept for the node it still serves', held: [m(4, ['n1', 'n3']), m(1)], add: m(7, ['n1']), want: [7, 4, 1] },
    { name: 'past the bound the oldest targeted go, the fleet-wide one stays', held: [m(6, ['c']), m(4, ['b']), m(2, ['a']), m(1)], add: m(8, ['d']), max: 3, want: [8, 6, 1] },
    { name: 'a manifest that targets nobody is refused', held: [m(1)], add: m(2, []), want: 'E_ROLLBACK' },
  ];
  for (const c of cases) {
    const got = admit(c.held, c.add, c.max);
    if (c.want === 'same') t.equal(got.verdict, 'same', c.name);
    else if (typeof c.want === 'string') t.match(got, { verdict: 'refused', code: c.want }, c.name);
    else t.same(got.verdict === 'accepted' ? seqs(got.held) : got, c.want, c.name);
  }
});

t.test('newestFor: the newest manifest that targets the node, whatever targeted ones came after', async (t) => {
  const held = [m(9, ['n2']), m(7, ['n1']), m(4)];
  t.equal(newestFor(held, 'n1')?.seq, 7, 'a canary gets its rollback');
  t.equal(newestFor(held, 'n2')?.seq, 9);
  t.equal(newestFor(held, 'n3')?.seq, 4, 'any other node gets the fleet-wide release');
  t.equal(newestFor([m(4, ['n1'])], 'n3'), null, 'nothing for a node no manifest targets');
});

t.test('worthPulling: anything not held above the fleet-wide one', async (t) => {
  const held = [m(7, ['n1']), m(4)];
  t.notOk(worthPulling(held, 7, m(7, ['n1']).hash), 'held already');
  t.notOk(worthPulling(held, 7, 'other'), 'a seq held under another hash: a conflict, not worth a pull');
  t.notOk(worthPulling(held, 3, 'x'), 'below the fleet-wide one');
  t.ok(worthPulling(held, 5, 'x'), 'a targeted one between: it may serve some node');
  t.ok(worthPulling([m(7, ['n1'])], 1, 'x'), 'without a fleet-wide one, even an older one');
});
