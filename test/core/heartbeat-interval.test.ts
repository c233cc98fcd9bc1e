import t from 'tap';
import { heartbeatPlan, MAX_INTERVAL_MS, reportDue, silentAfterMs } from '../../src/core/decisions/heartbeat-interval.js';

t.test('the interval grows with the fleet so the authority takes at most max_per_second', async (t) => {
  const cases = [
    { name: 'a small fleet stays at the base', in: { nodes: 50, baseMs: 5000, maxPerSecond: 2000 }, interval: 5000 },
    { name: 'exactly at the budget: still the base', in: { nodes: 10_000, baseMs: 5000, maxPerSecond: 2000 }, interval: 5000 },
    { name: '100k nodes at 2000/s: 50 s', in: { nodes: 100_000, baseMs: 5000, maxPerSecond: 2000 }, interval: 50_000 },
    // 1000 pinned at 5 s take 200/s; 99,000 share the other 1800/s: 55 s
    { name: 'pinned nodes are paid for first', in: { nodes: 100_000, pinned: 1000, baseMs: 5000, maxPerSecond: 2000 }, interval: 55_000 },
    { name: 'pinned nodes alone past the budget: capped', in: { nodes: 20_000, pinned: 15_000, baseMs: 5000, maxPerSecond: 2000 }, interval: MAX_INTERVAL_MS },
    { name: 'a budget far too small: capped', in: { nodes: 1_000_000, baseMs: 5000, maxPerSecond: 10 }, interval: MAX_INTERVAL_MS },
  ];
  for (const c of cases) {
    const plan = heartbeatPlan(c.in);
    t.equal(plan.intervalMs, c.interval, c.name);
    if (c.interval < MAX_INTERVAL_MS) t.ok(plan.perSecond <= c.in.maxPerSecond + 1e-9, `${c.name}: ${plan.perSecond}/s within budget`);
  }
});

t.test('silence stretches to three told intervals, never below the configured timeout', async (t) => {
  t.equal(silentAfterMs(30_000, null), 30_000);
  t.equal(silentAfterMs(30_000, 5_000), 30_000);
  t.equal(silentAfterMs(30_000, 50_000), 150_000);
});

t.test('a node reports at once when its state changes, else once per interval', async (t) => {
  const last = { at: 1000, state: 'confirmed#4' };
  const cases: Array<[string, Parameters<typeof reportDue>, boolean]> = [
    ['never reported: now', [null, 1000, 'idle', 60_000], true],
    ['unchanged, inside the interval: not yet', [last, 30_000, 'confirmed#4', 60_000], false],
    ['unchanged, a second before the interval: not yet', [last, 60_999, 'confirmed#4', 60_000], false],
    ['unchanged, at the interval: now', [last, 61_000, 'confirmed#4', 60_000], true],
    ['the state changed a second later: at once', [last, 2000, 'probation#5', 60_000], true],
  ];
  for (const [name, args, want] of cases) t.equal(reportDue(...args), want, name);
});
