// Probation decisions on a virtual clock (the edge we fake), and the probe against real HTTP.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Clock } from '../../../src/core/ports.js';
import { probeHealth, runProbation, type ProbationWindow } from '../../../src/node/apply/probe.js';

/** A clock that only moves when slept on, recording every sleep. */
function virtualClock(start = 1_000_000): Clock & { sleeps: number[] } {
  let now = start;
  const sleeps: number[] = [];
  return { sleeps, now: () => now, sleep: async (ms) => { sleeps.push(ms); now += ms; } };
}

/** Probe answers by virtual time: healthy inside the [from, to) windows given. */
const probesBy = (clock: Clock, healthy: (at: number) => boolean) => async () => ({ ok: healthy(clock.now()), detail: healthy(clock.now()) ? 'HTTP 200' : 'HTTP 500' });

const T0 = 1_000_000;
const run = (window: ProbationWindow, healthy: (at: number) => boolean, clock = virtualClock()) => {
  const persisted: Array<[number, number]> = [];
  return runProbation({ window, minHealthyMs: 1000, intervalMs: 100, probe: probesBy(clock, healthy), clock, onHealthy: (s, u) => void persisted.push([s, u]) })
    .then((verdict) => ({ verdict, persisted, clock }));
};

t.test('healthy from the start and for min_healthy: confirmed', async (t) => {
  const { verdict, persisted } = await run({ healthyBy: T0 + 5000, healthySince: null, stableUntil: null }, () => true);
  t.equal(verdict.ok, true);
  t.same(persisted, [[T0, T0 + 1000]], 'the stable window is persisted once, as absolute times');
});

t.test('healthy only after a while, but before the deadline: confirmed', async (t) => {
  const { verdict, persisted } = await run({ healthyBy: T0 + 5000, healthySince: null, stableUntil: null }, (at) => at >= T0 + 2000);
  t.equal(verdict.ok, true);
  t.same(persisted, [[T0 + 2000, T0 + 3000]]);
});

t.test('never healthy by healthy_deadline: failed, at the deadline and not later', async (t) => {
  const { verdict, clock } = await run({ healthyBy: T0 + 1500, healthySince: null, stableUntil: null }, () => false);
  t.match(verdict, { ok: false, reason: /healthy_deadline/ });
  t.equal(clock.now(), T0 + 1500, 'the last sleep is cut to the deadline');
});

t.test('one failure inside the min_healthy window: failed', async (t) => {
  const { verdict } = await run({ healthyBy: T0 + 5000, healthySince: null, stableUntil: null }, (at) => at < T0 + 500 || at > T0 + 700);
  t.match(verdict, { ok: false, reason: /min_healthy/ });
});

t.test('resumed inside a stored stable window: continues it rather than starting over', async (t) => {
  const { verdict, persisted, clock } = await run({ healthyBy: T0 - 4000, healthySince: T0 - 600, stableUntil: T0 + 400 }, () => true);
  t.equal(verdict.ok, true);
  t.same(persisted, [], 'no new window');
  t.equal(clock.now(), T0 + 400, 'ends at the stored stableUntil');
});

t.test('resumed after every deadline passed: one probe decides', async (t) => {
  const healthy = await run({ healthyBy: T0 - 4000, healthySince: T0 - 3000, stableUntil: T0 - 2000 }, () => true);
  t.equal(healthy.verdict.ok, true);
  t.same(healthy.clock.sleeps, [], 'confirmed by a probe, without waiting');
  const sick = await run({ healthyBy: T0 - 4000, healthySince: T0 - 3000, stableUntil: T0 - 2000 }, () => false);
  t.equal(sick.verdict.ok, false, 'never confirmed without a healthy answer');
});

t.test('probeHealth over real HTTP: 2xx healthy, 5xx not, silence times out, refused connects fail', async (t) => {
  let status = 200;
  let hang = false;
  const server = createServer((_req, res) => {
    if (hang) return;
    res.statusCode = status;
    res.end('x');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;
  t.match(await probeHealth(url, 1000), { ok: true, detail: 'HTTP 200' });
  status = 503;
  t.match(await probeHealth(url, 1000), { ok: false, detail: 'HTTP 503' });
  hang = true;
  t.match(await probeHealth(url, 200), { ok: false, detail: /no answer within 200 ms/ });
  t.match(await probeHealth('http://127.0.0.1:1/healthz', 1000), { ok: false, detail: 'ECONNREFUSED' });
});
