// What a heartbeat says about the app: the pure counter arithmetic by tables, and the
// monitor against a real app on a loopback port, on a clock the test moves (the window
// is the only thing time decides here).
import t from 'tap';
import { mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { configSchema, type AppConfig } from '../../../src/core/config.js';
import { AppMonitor, errorRate, readCounter } from '../../../src/node/agent/app-monitor.js';
import { tempDir } from '../../helpers/tmp.js';

const T0 = Date.parse('2026-11-22T00:00:00Z');

t.test('readCounter sums every label set of a family and is null when it cannot be read', async (t) => {
  const text = [
    '# HELP app_requests_total Requests served.',
    '# TYPE app_requests_total counter',
    'app_requests_total{route="/"} 120',
    'app_requests_total{route="/api"} 30',
    '# TYPE app_errors_total counter',
    'app_errors_total{code="500"} 3',
    'app_errors_total{code="502"} 4',
    'app_errors 99',
    'app_uptime_seconds 12.5',
    'app_broken_total NaN',
    'app_huge_total +Inf',
    '',
  ].join('\n');
  const table: Array<[name: string, want: number | null, why: string]> = [
    ['app_requests_total', 150, 'two routes, summed'],
    ['app_errors_total', 7, 'two codes, summed'],
    ['app_errors', 99, 'a family whose name is a prefix of another is its own family'],
    ['app_uptime_seconds', 12.5, 'one unlabelled sample'],
    ['app_missing_total', null, 'absent'],
    ['app_broken_total', null, 'NaN is not a count'],
    ['app_huge_total', null, 'neither is +Inf'],
  ];
  for (const [name, want, why] of table) t.equal(readCounter(text, name), want, `${name}: ${why}`);
  t.equal(readCounter('', 'app_errors_total'), null, 'an empty page has no families');
});

t.test('errorRate: errors per request, per second without requests, null without two samples', async (t) => {
  const s = (at: number, errors: number, requests: number | null) => ({ at, errors, requests });
  const table: Array<[samples: Array<ReturnType<typeof s>>, want: number | null, why: string]> = [
    [[], null, 'no samples'],
    [[s(0, 5, 100)], null, 'one sample is no rate'],
    [[s(0, 1, 100), s(5000, 6, 200)], 0.05, '5 errors in 100 requests'],
    [[s(0, 1, 100), s(1000, 50, 110), s(5000, 6, 200)], 0.05, 'only the first and last sample count'],
    [[s(0, 1, 100), s(5000, 1, 100)], 0, 'no requests: no errors to speak of'],
    [[s(0, 1, 100), s(5000, 4, 100)], 0, 'errors without requests still read as 0 per request'],
    [[s(0, 0, null), s(4000, 2, null)], 0.5, 'no request counter: 2 errors in 4 s'],
    [[s(0, 0, 100), s(4000, 2, null)], 0.5, 'a request counter missing from one sample: per second'],
    [[s(1000, 0, null), s(1000, 2, null)], null, 'two samples at one instant have no per-second rate'],
  ];
  for (const [samples, want, why] of table) t.equal(errorRate(samples), want, why);
});

/** A tiny app on 127.0.0.1:0 whose health status and counters the test sets. */
async function tinyApp(t: Tap.Test) {
  const state = { health: 200, metricsDown: false, requests: 0 as number | null, errors: 0, healthHits: 0, metricsHits: 0 };
  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      state.healthHits++;
      res.statusCode = state.health;
      res.end(state.health < 300 ? 'ok' : 'sick');
      return;
    }
    if (req.url === '/metrics') {
      state.metricsHits++;
      if (state.metricsDown) {
        res.statusCode = 500;
        res.end('metrics exporter crashed');
        return;
      }
      // requests split over two routes, so the monitor must sum label sets
      const half = state.requests === null ? 0 : Math.floor(state.requests / 2);
      const lines = [
        ...(state.requests === null ? [] : [
          '# TYPE app_requests_total counter',
          `app_requests_total{route="/"} ${half}`,
          `app_requests_total{route="/api"} ${state.requests - half}`,
        ]),
        '# TYPE app_errors_total counter',
        `app_errors_total{code="500"} ${state.errors}`,
        '',
      ];
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end(lines.join('\n'));
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { state, url };
}

/** A valid app: section, parsed by the real config schema. */
function appConfig(dir: string, url: string, metrics: { requests: string | null } | null): AppConfig {
  const app = configSchema.parse({
    fleet: 'edge',
    node: { id: 'node-1' },
    trust: { keys: [{ public: 'a'.repeat(64) }] },
    app: {
      dir, remote: '/srv/app.git', restart: 'true',
      health: { url: `${url}/healthz`, timeout: '1s' },
      ...(metrics ? { metrics: { url: `${url}/metrics`, requests: metrics.requests, window: '10s' } } : {}),
    },
  }).app;
  if (!app) throw new Error('the config schema dropped the app section');
  return app;
}

/** An app dir with releases/<name>/ for each name and `current` → releases/<first> (relative). */
function appDir(t: Tap.Test, releases: string[]): { dir: string; point(release: string): void } {
  const dir = tempDir(t, 'upshift-app-');
  for (const r of releases) mkdirSync(join(dir, 'releases', r), { recursive: true });
  // the way a switch does it: a new link renamed over the old one
  const point = (release: string) => {
    symlinkSync(join('releases', release), join(dir, 'current.next'));
    renameSync(join(dir, 'current.next'), join(dir, 'current'));
  };
  if (releases[0]) point(releases[0]);
  return { dir, point };
}

/** A code hash that records the dirs it was asked about and answers from a table; `hold` keeps one release's answer back. */
function recordingHash(hashes: Record<string, string>) {
  const calls: string[] = [];
  const held = new Map<string, Promise<void>>();
  const codeHash = async (dir: string) => {
    calls.push(dir);
    const name = dir.split('/').at(-1) ?? '';
    await held.get(name);
    if (hashes[name] === 'unreadable') throw new Error(`${name}: a tracked file is gone`);
    return { hash: hashes[name] ?? `unknown-${name}` };
  };
  /** Hold the answers for `name` until the returned function is called. */
  const hold = (name: string): (() => void) => {
    let release = () => {};
    held.set(name, new Promise<void>((ok) => (release = ok)));
    return () => {
      held.delete(name);
      release();
    };
  };
  return { calls, codeHash, hold };
}

async function monitored(t: Tap.Test, opts: { requests?: string | null; metrics?: boolean; releases?: string[]; hashes?: Record<string, string> } = {}) {
  const app = await tinyApp(t);
  const dir = appDir(t, opts.releases ?? ['r1']);
  let now = T0;
  const clock = { now: () => now };
  const hash = recordingHash(opts.hashes ?? {});
  const warnings: Array<{ obj: object; msg: string | undefined }> = [];
  const log = { info() {}, warn: (obj: object, msg?: string) => void warnings.push({ obj, msg }) };
  const config = appConfig(dir.dir, app.url, opts.metrics === false ? null : { requests: opts.requests === undefined ? 'app_requests_total' : opts.requests });
  const monitor = new AppMonitor({ app: config, appDir: dir.dir, clock, codeHash: hash.codeHash, log });
  /** Set the app's counters, move the clock, and probe once. */
  const sample = async (advanceMs: number, counters: { requests?: number | null; errors: number }) => {
    now += advanceMs;
    if (counters.requests !== undefined) app.state.requests = counters.requests;
    app.state.errors = counters.errors;
    await monitor.probe();
    return monitor.snapshot();
  };
  return { app, dir, hash, warnings, monitor, sample };
}

t.test('health is unknown until the first probe, then follows the health endpoint', async (t) => {
  const m = await monitored(t);
  t.same(m.monitor.snapshot(), { health: 'unknown', healthDetail: 'not probed yet', errorRate: null, attested: null }, 'nothing known before the first probe');
  t.equal(m.app.state.healthHits, 0, 'nothing is asked before the first probe');
  await m.monitor.probe();
  t.match(m.monitor.snapshot(), { health: 'ok', healthDetail: 'HTTP 200' }, '200: ok');
  m.app.state.health = 503;
  await m.monitor.probe();
  t.match(m.monitor.snapshot(), { health: 'failing', healthDetail: 'HTTP 503' }, '503: failing');
  m.app.state.health = 204;
  await m.monitor.probe();
  t.match(m.monitor.snapshot(), { health: 'ok', healthDetail: 'HTTP 204' }, 'any 2xx is healthy');
  t.equal(m.app.state.healthHits, 3, 'one health request per probe');
  t.equal(m.app.state.metricsHits, 3, 'one metrics request per probe');
});

t.test('the error rate is errors per request over the samples of successive probes', async (t) => {
  const m = await monitored(t);
  t.equal((await m.sample(0, { requests: 100, errors: 1 })).errorRate, null, 'one sample is no rate yet');
  t.equal((await m.sample(1000, { requests: 200, errors: 11 })).errorRate, 0.1, '10 errors in 100 requests');
  t.equal((await m.sample(1000, { requests: 300, errors: 11 })).errorRate, 0.05, '10 errors in 200 requests');
  t.equal((await m.sample(1000, { requests: 300, errors: 11 })).errorRate, 0.05, 'a quiet interval changes nothing');
  // 11 s on, the first samples are older than the 10 s window: the burst is forgotten
  t.equal((await m.sample(11_000, { requests: 400, errors: 11 })).errorRate, 0, 'only samples inside the window count');
  t.equal((await m.sample(1000, { requests: 500, errors: 61 })).errorRate, 0.5, 'a new burst: 50 errors in the 100 requests since the oldest kept sample');
});

t.test('samples older than the window drop out, but two samples always remain', async (t) => {
  const m = await monitored(t);
  await m.sample(0, { requests: 0, errors: 0 });
  await m.sample(1000, { requests: 100, errors: 50 });
  // a minute of silence: both samples are old, yet a rate needs two of them
  t.equal((await m.sample(60_000, { requests: 200, errors: 50 })).errorRate, 0, 'the oldest is dropped, the 50 errors with it');
  t.equal((await m.sample(60_000, { requests: 300, errors: 60 })).errorRate, 0.1, 'from the previous sample to this one');
});

t.test('without a request counter the rate is errors per second', async (t) => {
  const m = await monitored(t, { requests: null });
  await m.sample(0, { requests: null, errors: 0 });
  t.equal((await m.sample(2000, { errors: 5 })).errorRate, 2.5, '5 errors in 2 s');
  t.equal((await m.sample(2000, { errors: 5 })).errorRate, 1.25, '5 errors in 4 s');
});

t.test('a counter that goes down (the app restarted) starts the window again', async (t) => {
  const m = await monitored(t);
  await m.sample(0, { requests: 1000, errors: 100 });
  t.equal((await m.sample(1000, { requests: 1100, errors: 110 })).errorRate, 0.1, 'before the restart');
  t.equal((await m.sample(1000, { requests: 10, errors: 5 })).errorRate, null, 'errors and requests went down: one fresh sample');
  t.equal((await m.sample(1000, { requests: 110, errors: 5 })).errorRate, 0, 'no new errors since the restart');
  t.equal((await m.sample(1000, { requests: 50, errors: 5 })).errorRate, null, 'only requests went down: a restart too');
  t.equal((await m.sample(1000, { requests: 150, errors: 25 })).errorRate, 0.2, 'counted from the restart, not across it');
});

t.test('with the metrics endpoint down the rate stays what it was and health follows the health probe', async (t) => {
  const m = await monitored(t);
  await m.sample(0, { requests: 100, errors: 0 });
  t.equal((await m.sample(1000, { requests: 200, errors: 10 })).errorRate, 0.1, 'read while the metrics page is up');
  m.app.state.metricsDown = true;
  t.match(await m.sample(1000, { requests: 300, errors: 90 }), { health: 'ok', errorRate: 0.1 }, 'unread counters leave the rate alone');
  m.app.state.health = 500;
  t.match(await m.sample(1000, { requests: 400, errors: 90 }), { health: 'failing', healthDetail: 'HTTP 500', errorRate: 0.1 }, 'health fails on its own probe');
  t.equal(m.warnings.length, 1, 'the same metrics problem is logged once, not every interval');
  t.match(m.warnings[0], { obj: { module: 'monitor' }, msg: /metrics not read from .*\/metrics: HTTP 500/ }, 'a warning naming the URL and the problem');
  m.app.state.metricsDown = false;
  m.app.state.health = 200;
  t.match(await m.sample(1000, { requests: 500, errors: 90 }), { health: 'ok', errorRate: 0.225 }, 'read again: 90 errors in the 400 requests of the window');
});

t.test('a monitor without a metrics section reports health and no rate', async (t) => {
  const m = await monitored(t, { metrics: false });
  await m.sample(0, { requests: 100, errors: 1 });
  t.match(await m.sample(1000, { requests: 200, errors: 50 }), { health: 'ok', errorRate: null }, 'health without a rate');
  t.equal(m.app.state.metricsHits, 0, 'the metrics page is never fetched');
});

t.test('attest hashes the release current points at, and a switch re-attests and starts the rate afresh', async (t) => {
  const m = await monitored(t, { releases: ['r1', 'r2'], hashes: { r1: 'h1', r2: 'h2' } });
  t.equal(m.monitor.snapshot().attested, null, 'nothing attested before the first probe');
  await m.monitor.probe();
  t.same(m.hash.calls, [join(m.dir.dir, 'releases', 'r1')], 'the first probe attests the release dir, not the symlink');
  t.same(m.monitor.snapshot().attested, { release: 'r1', hash: 'h1', at: T0 }, 'named by release, stamped with the clock');

  await m.sample(1000, { requests: 100, errors: 0 });
  t.equal((await m.sample(1000, { requests: 200, errors: 20 })).errorRate, 0.1, 'r1: 20 errors in the 200 requests since the first probe');
  t.equal(m.hash.calls.length, 1, 'probes of the same release do not hash again');

  m.dir.point('r2');
  const switched = await m.sample(1000, { requests: 300, errors: 20 });
  t.same(m.hash.calls.at(-1), join(m.dir.dir, 'releases', 'r2'), 'the probe after the switch hashed the new release');
  t.same(switched.attested, { release: 'r2', hash: 'h2', at: T0 + 3000 }, 'attested r2');
  t.equal(switched.errorRate, null, "r1's samples are not r2's rate");
  await m.sample(1000, { requests: 400, errors: 20 });
  t.equal((await m.sample(1000, { requests: 500, errors: 30 })).errorRate, 0.05, 'the rate of r2 alone: 10 errors in the 200 requests since the switch');
});

t.test('attest of the same release updates the hash and keeps the samples', async (t) => {
  const hashes = { r1: 'h1' };
  const m = await monitored(t, { hashes });
  await m.monitor.attest();
  await m.sample(1000, { requests: 100, errors: 0 });
  await m.sample(1000, { requests: 200, errors: 10 });
  hashes.r1 = 'h1-edited-on-disk';
  await m.monitor.attest();
  t.same(m.monitor.snapshot(), { health: 'ok', healthDetail: 'HTTP 200', errorRate: 0.1, attested: { release: 'r1', hash: 'h1-edited-on-disk', at: T0 + 2000 } }, 'the new hash is attested and the rate kept');
});

t.test('a tree that can no longer be hashed is reported with no hash, not the last good one', async (t) => {
  const hashes = { r1: 'h1' };
  const m = await monitored(t, { hashes });
  await m.monitor.attest();
  hashes.r1 = 'unreadable';
  await m.monitor.tryAttest();
  t.same(m.monitor.snapshot().attested, { release: 'r1', hash: null, at: T0 }, 'no hash for r1');
  t.match(m.warnings.at(-1), { msg: /code hash of current: r1: a tracked file is gone/ }, 'the cause is logged');
  hashes.r1 = 'h1';
  await m.monitor.tryAttest();
  t.match(m.monitor.snapshot().attested, { release: 'r1', hash: 'h1' }, 'hashed again once the tree is whole');
});

t.test('with no current link there is nothing to attest', async (t) => {
  const m = await monitored(t, { hashes: { r1: 'h1' } });
  await m.monitor.attest();
  t.ok(m.monitor.snapshot().attested, 'attested while current exists');
  rmSync(join(m.dir.dir, 'current'));
  await m.monitor.attest();
  t.equal(m.monitor.snapshot().attested, null, 'current removed: attested cleared');
  t.equal(m.hash.calls.length, 1, 'and nothing hashed');
  await m.monitor.probe();
  t.match(m.monitor.snapshot(), { health: 'ok', attested: null }, 'probing without current still reports health');
  mkdirSync(join(m.dir.dir, 'current'));
  await m.monitor.attest();
  t.equal(m.monitor.snapshot().attested, null, 'a current that is no symlink is no release to attest');
  t.equal(m.hash.calls.length, 1, 'nor is anything hashed');
});

t.test('an attest that finishes after the switch does not name the release switched away from', async (t) => {
  // The attest_every timer and the probe timer are separate, so a slow hash of r1 can
  // still be running when a switch to r2 is seen by a probe, which attests r2 first.
  const m = await monitored(t, { releases: ['r1', 'r2'], hashes: { r1: 'h1', r2: 'h2' } });
  await m.monitor.attest();
  const release = m.hash.hold('r1');
  const timer = m.monitor.attest(); // hashing r1, held at the gate
  m.dir.point('r2');
  await m.sample(1000, { requests: 100, errors: 0 });
  t.match(m.monitor.snapshot().attested, { release: 'r2', hash: 'h2' }, 'the probe after the switch attested r2');
  release();
  await timer;
  t.match(m.monitor.snapshot().attested, { release: 'r2', hash: 'h2' }, 'the late r1 result is dropped: still r2, which current points at');
  await m.sample(1000, { requests: 200, errors: 0 });
  t.match(m.monitor.snapshot().attested, { release: 'r2', hash: 'h2' }, 'the next probe puts it right either way');
});

/**
 * A monitor over a real app dir with the real code hash and stat cache (its clock ahead, so files
 * written just now are settled); `pick` records one counter of each hash. The test moves `clock.now`.
 */
async function realHashMonitor(t: Tap.Test, dir: string, pick: (r: { cached: number; watched: number }) => number) {
  const { codeHash } = await import('../../../src/adapters/code-hash-files.js');
  const { StatCache } = await import('../../../src/adapters/stat-cache.js');
  const counts: number[] = [];
  const clock = { now: () => T0 };
  const config = { ...appConfig(dir, 'http://127.0.0.1:9', null), attest_every: 60_000, attest_full_every: 3_600_000 };
  const monitor = new AppMonitor({
    app: config, appDir: dir, clock: { now: () => clock.now() },
    statCache: new StatCache({ now: () => Date.now() + 10_000 }),
    codeHash: async (d, o) => {
      const r = await codeHash(d, o);
      counts.push(pick(r));
      return r;
    },
  });
  t.teardown(() => monitor.close());
  return { monitor, clock, counts };
}

t.test('re-attestation reads only changed files, and every file every attest_full_every', async (t) => {
  const { writeFileSync } = await import('node:fs');
  const dir = appDir(t, ['r1', 'r2']);
  for (const r of ['r1', 'r2']) for (const f of ['a.js', 'b.js', 'c.js']) writeFileSync(join(dir.dir, 'releases', r, f), `${r}/${f}\n`);
  const { monitor, clock, counts: cachedCounts } = await realHashMonitor(t, dir.dir, (r) => r.cached);
  let now = T0;
  clock.now = () => now;
  await monitor.attest();
  now += 60_000;
  await monitor.attest();
  now += 60_000;
  await monitor.attest();
  t.same(cachedCounts, [0, 3, 3], 'the first attestation reads every file, the next ones none');
  now = T0 + 3_600_000;
  await monitor.attest();
  t.equal(cachedCounts.at(-1), 0, 'after attest_full_every, every file is read again');
  now += 60_000;
  await monitor.attest();
  t.equal(cachedCounts.at(-1), 3);
  dir.point('r2');
  await monitor.attest();
  t.equal(cachedCounts.at(-1), 0, 'a new release is read whole');
  t.match(monitor.snapshot().attested, { release: 'r2' });
});

t.test('the tree watch follows current: armed over its release, closed on a switch, re-armed by the full re-hash, closed by close()', async (t) => {
  const { gitRepo } = await import('../../helpers/gitdir.js');
  const { kernelWatches } = await import('../../helpers/inotify.js');
  const dir = appDir(t, []);
  mkdirSync(join(dir.dir, 'releases'));
  // release dirs as a git fetch leaves them: real directories holding a work tree
  for (const r of ['r1', 'r2']) {
    const repo = gitRepo(t);
    repo.commit(r, { 'a.js': `${r}\n`, 'lib/b.js': 'b\n', 'lib/c.js': 'c\n' });
    renameSync(repo.dir, join(dir.dir, 'releases', r));
  }
  dir.point('r1');
  const base = kernelWatches();
  const { monitor, clock, counts: watched } = await realHashMonitor(t, dir.dir, (r) => r.watched);
  let now = T0;
  clock.now = () => now;
  await monitor.attest();
  now += 60_000;
  await monitor.attest();
  t.same(watched, [0, 3], 'armed by the first attestation, trusted by the next');
  t.equal(kernelWatches() - base, 2, 'the release root and lib/');
  dir.point('r2');
  await monitor.attest();
  t.equal(watched.at(-1), 0, 'a switch: every file of the new release stat\'ed');
  t.equal(kernelWatches() - base, 2, 'r1\'s watches closed, r2\'s open');
  now += 60_000;
  await monitor.attest();
  t.equal(watched.at(-1), 3);
  now += 3_600_000;
  await monitor.attest();
  t.equal(watched.at(-1), 0, 'attest_full_every: no file taken on the watch\'s word');
  t.equal(kernelWatches() - base, 2, 'armed again, none left over');
  monitor.close();
  t.equal(kernelWatches(), base, 'close() leaves no watch');
});

t.test('a tree watch that cannot be armed is said once in the log, and attestation goes on', async (t) => {
  const { codeHash } = await import('../../../src/adapters/code-hash-files.js');
  const { TreeWatch } = await import('../../../src/adapters/tree-watch.js');
  const { writeFileSync } = await import('node:fs');
  const dir = appDir(t, ['r1']);
  mkdirSync(join(dir.dir, 'releases', 'r1', 'lib'));
  for (const f of ['a.js', 'lib/b.js']) writeFileSync(join(dir.dir, 'releases', 'r1', f), `${f}\n`);
  const infos: string[] = [];
  const log = { info: (_obj: object, msg?: string) => void infos.push(msg ?? ''), warn() {} };
  let now = T0;
  const monitor = new AppMonitor({
    app: appConfig(dir.dir, 'http://127.0.0.1:9', null), appDir: dir.dir, clock: { now: () => now }, log,
    treeWatch: new TreeWatch({ maxDirs: 1 }), codeHash: (d, o) => codeHash(d, o),
  });
  t.teardown(() => monitor.close());
  for (let i = 0; i < 3; i++) {
    await monitor.attest();
    now += 60_000;
  }
  t.match(monitor.snapshot().attested, { release: 'r1' });
  t.equal(infos.length, 1, 'once, not every attest_every');
  t.match(infos[0], /tree watch dropped, files stat'ed again: more than 1 directories/);
});
