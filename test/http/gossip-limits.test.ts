// The work /v1/gossip does before it knows who is asking: a per-address token bucket before
// the body is read, a request cap far below max_body_bytes, and a depth check before
// JSON.parse. Real HTTP on loopback; a receiver that counts what reaches it (the node's
// receive() is where certificates and signatures are checked).
import t from 'tap';
import { join } from 'node:path';
import { createLogger } from '../../src/adapters/logger.js';
import { Store } from '../../src/adapters/sqlite/store.js';
import { validateConfig } from '../../src/core/config.js';
import { UpshiftError } from '../../src/core/errors.js';
import { gossipRoutes } from '../../src/http/gossip-routes.js';
import { buildServer } from '../../src/http/server.js';
import { tempDir } from '../helpers/tmp.js';
import { serverViews } from '../helpers/server-views.js';

const trust = { keys: [{ public: 'a'.repeat(64) }] };

async function server(t: Tap.Test, gossip: { max_request_bytes?: number; rate_limit_per_address?: number }) {
  const dir = tempDir(t, 'upshift-limits-');
  const config = validateConfig({ fleet: 'edge', state_dir: dir, node: { id: 'a' }, trust, gossip });
  const store = Store.open(join(dir, 'upshift.db'), () => Date.now());
  const reached = { n: 0 };
  const receiver = { receive: async () => { reached.n++; throw new UpshiftError('E_NOT_CERTIFIED', 'junk certificate'); } };
  // a frozen bucket clock: on a loaded machine eight requests can take longer than the 200 ms
  // in which one token of five per second refills, and a sixth would pass
  const frozen = Date.now();
  const app = buildServer({ config, store, ...serverViews(config, store), log: createLogger({ level: 'silent' }), plugins: [gossipRoutes(receiver, config.gossip, () => frozen)] });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    await app.close();
    store.close();
  });
  const post = async (body: string) => {
    const res = await fetch(`${url}/v1/gossip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: res.status, json: (await res.json()) as { error?: { code?: string } } };
  };
  return { url, post, reached, config };
}

const nested = (depth: number) => `{"payload":${'['.repeat(depth)}${']'.repeat(depth)},"sig":"","cert":""}`;

t.test('JSON nested deeper than 32 levels is refused with 400 before it is parsed', async (t) => {
  const s = await server(t, {});
  const deep = await s.post(nested(3000));
  t.equal(deep.status, 400);
  t.equal(deep.json.error?.code, 'E_MALFORMED');
  const justOver = await s.post(nested(32));
  t.equal(justOver.status, 400, 'the wire object itself is a level: 33 in all');
  t.equal(s.reached.n, 0, 'the receiver never saw either');
  const fine = await s.post(nested(31));
  t.equal(fine.status, 403, 'at the limit it is parsed and goes on to the signature check');
  t.equal(s.reached.n, 1);
  const strings = await s.post(`{"payload":"${'['.repeat(5000)}","sig":"","cert":""}`);
  t.equal(strings.status, 403, 'brackets inside strings do not count');
});

t.test('a gossip request over gossip.max_request_bytes is refused with 413, far below max_body_bytes', async (t) => {
  const s = await server(t, { max_request_bytes: 8192 });
  t.equal(s.config.gossip.max_body_bytes, 2 * 1024 * 1024, 'answers (manifests) may still be large');
  const big = await s.post(JSON.stringify({ payload: 'x'.repeat(9000), sig: '', cert: '' }));
  t.equal(big.status, 413);
  t.equal(big.json.error?.code, 'E_BODY_TOO_LARGE');
  const deep = await s.post(`{"payload":${'['.repeat(900_000)}`);
  t.equal(deep.status, 413, 'the 1.8 MB nesting bomb is not even read');
  t.equal(s.reached.n, 0);
});

t.test('one address over rate_limit_per_address is refused with 429 before its body is read or any signature checked', async (t) => {
  const s = await server(t, { rate_limit_per_address: 5 });
  const junk = JSON.stringify({ payload: '{}', sig: 'AAAA', cert: '{"copied":"certificate"}' });
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await s.post(junk)).status);
  t.same(statuses, [403, 403, 403, 403, 403, 429, 429, 429], 'five reach the certificate check, the rest do not');
  t.equal(s.reached.n, 5);
  const limited = await s.post(JSON.stringify({ payload: 'x'.repeat(60_000), sig: '', cert: '' }));
  t.equal(limited.status, 429, 'refused before the body is read');
  t.equal(limited.json.error?.code, 'E_RATE_LIMITED');
  const health = await fetch(`${s.url}/healthz`);
  t.equal(health.status, 200, '/healthz is not limited');
});
