import t from 'tap';
import { runPushBaseline, retransmitLimit } from '../../scripts/sim/baseline-push.js';
import { runGossipSim, SIM_DEFAULTS } from '../../scripts/sim/sim.js';
import { boundRounds } from '../../scripts/bench/gossip-sim.js';

t.test('a node behind pulls from the sender, and a whole fleet converges with one verification per node', async (t) => {
  for (const loss of [0, 0.1]) {
    const run = await runGossipSim({ nodes: 300, seed: 11, loss });
    t.ok(run.converged, `converged at ${loss * 100}% loss`);
    t.ok((run.rounds100 as number) <= boundRounds(300, SIM_DEFAULTS.fanout, loss), `within the target bound (${run.rounds100} rounds)`);
    t.equal(run.offersPerNode, 1, 'each node verified the manifest exactly once');
    t.ok(run.transfersPerNode <= 2.5, `manifest transfers per node ${run.transfersPerNode} <= 2.5`);
  }
});

t.test('the same seed replays the same run', async (t) => {
  const a = await runGossipSim({ nodes: 200, seed: 5, loss: 0.05 });
  const b = await runGossipSim({ nodes: 200, seed: 5, loss: 0.05 });
  t.same(a, b);
});

t.test('half the fleet partitioned past dead_after, then healed, converges through anti-entropy within 2 intervals', async (t) => {
  // Short suspicion and a long cut, so (nearly) every cross-partition peer has been tried and
  // is dead at the heal: pushes skip dead peers, so anti-entropy's occasional probes of dead
  // peers are what bridge the cut.
  const gossip = { suspect_after: 2000, dead_after: 5000 };
  for (const seed of [1, 2, 3]) {
    const run = await runGossipSim({ nodes: 120, seed, loss: 0.01, gossip, view: 32, maxMembers: 32, partition: { healAt: 60_000 } });
    t.equal(run.atHeal?.reached, 60, "only the publisher's half had it at the heal");
    const cross = run.atHeal?.crossPeers ?? { alive: 0, suspect: 0, dead: 0 };
    t.ok(cross.dead >= 0.99 * (cross.alive + cross.suspect + cross.dead), `cross-partition peers dead at the heal: ${JSON.stringify(cross)}`);
    t.ok(run.converged, `seed ${seed} converged`);
    t.ok((run.healToFullMs as number) <= 2 * SIM_DEFAULTS.anti_entropy, `seed ${seed}: ${run.healToFullMs} ms from heal to 100%`);
  }
});

t.test('the push-only baseline uses memberlist\'s retransmit limit and transfers the payload on every send', async (t) => {
  t.equal(retransmitLimit(1000), 16);
  t.equal(retransmitLimit(10_000), 20);
  const run = await runPushBaseline({ nodes: 500, seed: 3, loss: 0.01 });
  t.equal(run.retransmitLimit, 12);
  t.ok(run.reached > 0.9);
  t.ok(run.transfersPerNode > 2.5, `baseline moves the payload ${run.transfersPerNode} times per node`);
});

t.test('the target bound follows the issue formula', async (t) => {
  t.equal(Math.round(boundRounds(10_000, 3, 0.01) * 100) / 100, 12.78);
  t.equal(Math.round(boundRounds(1000, 3, 0.1) * 100) / 100, 10.84);
});
