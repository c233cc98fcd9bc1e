import t from 'tap';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/adapters/logger.js';
import { buildServer } from '../../src/http/server.js';
import { testAuthority } from '../helpers/authority.js';
import { serverViews } from '../helpers/server-views.js';

const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

t.test('health, readiness, status and metrics answer over real HTTP', async (t) => {
  const a = await testAuthority(t);
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  await a.service.orchestrator.drive(run.id);
  let keysOk = true;
  const app = buildServer({ config: a.service.deps.config, store: a.service.deps.store, ...serverViews(a.service.deps.config, a.service.deps.store), log: quiet, readiness: { signing_keys: () => { if (!keysOk) throw new Error('E_KEY_MISSING'); } } });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());

  t.same(await (await fetch(`${url}/healthz`)).json(), { ok: true });
  const ready = await fetch(`${url}/readyz`);
  t.equal(ready.status, 200);
  keysOk = false;
  const notReady = await fetch(`${url}/readyz`);
  t.equal(notReady.status, 503, 'not ready when a check fails');
  t.match(await notReady.json(), { ok: false, checks: { state: 'ok', signing_keys: 'E_KEY_MISSING' } });

  const status = (await (await fetch(`${url}/v1/status`)).json()) as { node: { id: string }; tracks: { testnet: { manifest: { seq: number } } } };
  t.equal(status.node.id, 'authority');
  t.equal(status.tracks.testnet.manifest.seq, 1, 'the release is held for gossip');

  const metrics = await (await fetch(`${url}/metrics`)).text();
  t.match(metrics, /upshift_gossip_manifest_seq\{track="testnet",node="authority",fleet="demo"\} 1/);
  t.match(metrics, /upshift_runs\{track="testnet",status="completed",node="authority",fleet="demo"\} 1/);
  t.match(metrics, /upshift_process_resident_memory_bytes/);
});

t.test('an oversized body is refused before parsing with E_BODY_TOO_LARGE', async (t) => {
  const a = await testAuthority(t);
  const app = buildServer({
    config: { ...a.service.deps.config, gossip: { ...a.service.deps.config.gossip, max_body_bytes: 1024 } },
    store: a.service.deps.store,
    ...serverViews(a.service.deps.config, a.service.deps.store),
    log: quiet,
    plugins: [(app) => app.post('/v1/echo', async (req) => ({ ok: true, got: req.body }))],
  });
  const big = await app.inject({ method: 'POST', url: '/v1/echo', payload: { x: 'y'.repeat(4096) } });
  t.equal(big.statusCode, 413);
  t.equal(big.json().error.code, 'E_BODY_TOO_LARGE');
  const bad = await app.inject({ method: 'POST', url: '/v1/echo', headers: { 'content-type': 'application/json' }, payload: '{"x":' });
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().error.code, 'E_MALFORMED');
});

t.test("fastify's schema compilers load only for a route that declares a schema, and then work", async (t) => {
  const cache = createRequire(import.meta.url).cache;
  const ajvLoaded = () => Object.keys(cache).some((k) => k.includes('/node_modules/ajv/'));
  const a = await testAuthority(t);
  const plain = buildServer({ config: a.service.deps.config, store: a.service.deps.store, ...serverViews(a.service.deps.config, a.service.deps.store), log: quiet });
  t.teardown(() => plain.close());
  t.equal((await plain.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  t.notOk(ajvLoaded(), 'no route has a schema: ajv not loaded');
  const schema = { body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } };
  const typed = buildServer({
    config: a.service.deps.config, store: a.service.deps.store, ...serverViews(a.service.deps.config, a.service.deps.store), log: quiet,
    plugins: [(app) => app.post('/v1/typed', { schema }, async (req) => ({ got: req.body }))],
  });
  t.teardown(() => typed.close());
  t.equal((await typed.inject({ method: 'POST', url: '/v1/typed', payload: { n: 1 } })).statusCode, 200);
  t.equal((await typed.inject({ method: 'POST', url: '/v1/typed', payload: { n: 'x' } })).statusCode, 400, 'validated');
  t.ok(ajvLoaded(), 'loaded when needed');
});
