import t from 'tap';
import { canaryHealth } from '../../src/services/canary-health.js';
import { testAuthority } from '../helpers/authority.js';
import { fleetDouble, virtualClock, type SimNode } from '../helpers/fleet-double.js';

const fleet = (n: number): SimNode[] =>
  Array.from({ length: n }, (_, i) => ({ id: `node-${i}`, region: ['eu', 'us'][i % 2] as string, errorRate: 0.01 }));

/** An authority whose fleet port says when it began hearing heartbeats (`since`, moved by the test). */
async function setup(t: Tap.Test, nodes: SimNode[]) {
  const { clock, sleeps, advance } = virtualClock();
  let port: ReturnType<typeof fleetDouble> | null = null;
  const hearing = { since: undefined as number | undefined };
  const a = await testAuthority(t, {
    authority: { canary: { fraction: 0.1, soak: '30m', check_every: '5s', heartbeat_timeout: '30s' }, deployments: { testnet: { max_parallel: '100%' } } },
    overrides: {
      clock,
      fleet: {
        nodes: () => port!.port.nodes(), canaryCandidates: (tr) => port!.port.canaryCandidates(tr), publish: (e, tr) => port!.port.publish(e, tr),
        get hearingSince() { return hearing.since; },
      },
    },
  });
  port = fleetDouble(nodes, a.service.deps.keyset, clock);
  return { a, sleeps, clock, advance, freeze: port.freeze, hearing };
}

t.test('a newly started authority does not judge canaries on heartbeats heard before it started', async (t) => {
  const { a, sleeps, clock, advance, freeze, hearing } = await setup(t, fleet(10));
  const first = (await a.service.startOrFind(await a.service.resolve('main'))).run;
  t.equal((await a.service.orchestrator.drive(first.id)).status, 'completed');
  a.commitVersion({ version: 'v2', latencyMs: 10 });
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  // into the soak, then stopped there, as a crash or a lost leadership would
  while ((await a.service.deps.store.requireRun(run.id)).stage !== 'canary') await a.service.orchestrator.drive(run.id, { until: 'stage' });
  const ctl = new AbortController();
  const driving = a.service.orchestrator.drive(run.id, { signal: ctl.signal });
  const before = sleeps.length;
  while (sleeps.length < before + 5) await new Promise((r) => setImmediate(r));
  ctl.abort();
  await driving;
  const { canaries } = await a.service.deps.store.plans.canaryPlan(run.id) as { canaries: string[] };

  // the last heartbeats anyone heard from the canaries said failing; nothing fresh for now
  freeze(canaries, clock.now() + 60 * 60_000, (r) => ({ ...r, health: 'failing' }));
  const stale = await canaryHealth(a.service, { runId: run.id });
  t.ok(stale.evidence.failing.length > 0, 'judged by the authority that heard them, the canaries fail');

  // a new authority (restart, takeover) begins hearing now
  advance(10_000);
  hearing.since = clock.now();
  const fresh = await canaryHealth(a.service, { runId: run.id });
  t.same(fresh.evidence.failing, [], 'nothing judged on what it did not hear');
  t.ok(fresh.evidence.nodes.every((n) => !n.heard_since_start));
  t.match(fresh.reason, /not judged yet: node-\d \(heard only before this authority started\)/);
});
