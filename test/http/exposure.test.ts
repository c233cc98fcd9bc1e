import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createLogger } from '../../src/adapters/logger.js';
import { Store } from '../../src/adapters/sqlite/store.js';
import { validateConfig, type Config } from '../../src/core/config.js';
import { smallRequest, type TlsCheck } from '../../src/adapters/http-client.js';
import { certFingerprint, isLoopbackHost, loadHttpExposure, selfUrl } from '../../src/http/exposure.js';
import { buildServer } from '../../src/http/server.js';
import { authorityTarget } from '../../src/node/authority-pin.js';
import { tempDir } from '../helpers/tmp.js';
import { makeTlsCert } from '../helpers/tls.js';
import { serverViews } from '../helpers/server-views.js';

const quiet = createLogger({ level: 'silent' });
const dir = tempDir(t, 'upshift-exposure-');
const tls = makeTlsCert(dir);
const other = makeTlsCert(dir, 'other');
const TOKEN = 'read-token-0123456789abcdef';
const tokenFile = join(dir, 'read.token');
writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });

function config(extra: { listen?: string; advertise?: string; http?: Record<string, unknown> } = {}): Config {
  return validateConfig({
    fleet: 'edge', state_dir: dir, node: { id: 'web-1', labels: { region: 'eu' } }, trust: { keys: [{ public: 'ab'.repeat(32) }] },
    gossip: { listen: extra.listen ?? '127.0.0.1:7400', ...(extra.advertise ? { advertise: extra.advertise } : {}) },
    http: extra.http ?? {},
  });
}

const errorOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string; details?: { setting?: string } };
  }
  return null;
};

t.test('loopback is 127.0.0.0/8, ::1 and localhost; every other name is beyond it', async (t) => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '[::1]']) t.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '10.0.0.1', '128.0.0.1', 'auth.example', '127.0.0.1.example', '::', '[::ffff:7f00:1]']) t.notOk(isLoopbackHost(h), h);
});

t.test('join URL policy: https pinned or CA-checked; http only to loopback unless --insecure', async (t) => {
  const pin = `sha256:${'ab'.repeat(32)}`;
  t.match(authorityTarget('https://auth.example:7400', { fingerprint: pin }), { tls: { pin } });
  t.match(authorityTarget('https://auth.example:7400', { fingerprint: 'AB:'.repeat(31) + 'AB' }), { tls: { pin } }, "openssl's colon form is accepted");
  t.match(authorityTarget('https://auth.example:7400', {}), { tls: 'ca' });
  t.match(authorityTarget('http://127.0.0.1:7400', {}), { tls: null });
  t.match(authorityTarget('http://10.0.0.1:7400', { insecure: true }), { tls: null });
  const refusals: Array<[string, { fingerprint?: string; insecure?: boolean }, string]> = [
    ['http://10.0.0.1:7400', {}, 'E_INSECURE'],
    ['http://auth.example:7400', {}, 'E_INSECURE'],
    ['http://127.0.0.1:7400', { fingerprint: pin }, 'E_USAGE'],
    ['https://auth.example', { fingerprint: 'sha256:abc' }, 'E_USAGE'],
    ['https://auth.example', { insecure: true }, 'E_USAGE'],
    ['ftp://auth.example', {}, 'E_USAGE'],
    ['not a url', {}, 'E_USAGE'],
  ];
  for (const [url, opts, code] of refusals) t.equal(errorOf(() => authorityTarget(url, opts))?.code, code, `${url} ${JSON.stringify(opts)}`);
});

t.test('a daemon bound beyond loopback does not start with open reads unless told so', async (t) => {
  const open = errorOf(() => loadHttpExposure(config({ listen: '0.0.0.0:7400' })));
  t.match(open, { code: 'E_CONFIG', message: /http\.read_token_file/, details: { setting: 'http.read_token_file' } });
  t.same(loadHttpExposure(config({ listen: '0.0.0.0:7400', http: { public_reads: true } })), { tls: null, readToken: null });
  t.same(loadHttpExposure(config()), { tls: null, readToken: null }, 'loopback: open reads are fine');
  t.equal(loadHttpExposure(config({ listen: '0.0.0.0:7400', http: { read_token_file: tokenFile } })).readToken, TOKEN);
  t.match(errorOf(() => loadHttpExposure(config({ http: { read_token_file: tokenFile, public_reads: true } }))), { code: 'E_CONFIG', details: { setting: 'http.public_reads' } });

  const loose = join(dir, 'loose.token');
  writeFileSync(loose, TOKEN, { mode: 0o644 });
  t.match(errorOf(() => loadHttpExposure(config({ http: { read_token_file: loose } }))), { code: 'E_KEY_PERMS', details: { setting: 'http.read_token_file' } });
  const short = join(dir, 'short.token');
  writeFileSync(short, 'abc', { mode: 0o600 });
  t.match(errorOf(() => loadHttpExposure(config({ http: { read_token_file: short } }))), { code: 'E_CONFIG', message: /at least 16/ });
  t.match(errorOf(() => loadHttpExposure(config({ http: { read_token_file: join(dir, 'missing') } }))), { code: 'E_CONFIG', details: { setting: 'http.read_token_file' } });
});

t.test('http.tls: the certificate and key must load, the key must be private, advertise must be https', async (t) => {
  const ok = loadHttpExposure(config({ http: { tls: { cert: tls.cert, key: tls.key } } }));
  t.ok(ok.tls, 'loaded');
  t.equal(certFingerprint(readFileSync(tls.cert)), tls.fingerprint, "our fingerprint is openssl's");
  t.equal(selfUrl(config({ http: { tls: { cert: tls.cert, key: tls.key } } })), 'https://127.0.0.1:7400');
  t.match(errorOf(() => loadHttpExposure(config({ http: { tls: { cert: tls.cert, key: other.key } } }))), { code: 'E_CONFIG', details: { setting: 'http.tls' } }, 'a key that is not the certificate\'s');
  const looseKey = join(dir, 'loose.key');
  writeFileSync(looseKey, readFileSync(tls.key), { mode: 0o644 });
  t.match(errorOf(() => loadHttpExposure(config({ http: { tls: { cert: tls.cert, key: looseKey } } }))), { code: 'E_KEY_PERMS', details: { setting: 'http.tls.key' } });
  t.match(errorOf(() => loadHttpExposure(config({ advertise: 'http://10.0.0.1:7400', http: { tls: { cert: tls.cert, key: tls.key } } }))), { code: 'E_CONFIG', details: { setting: 'gossip.advertise' } });
});

t.test('bound to 0.0.0.0, /v1/status and /metrics need the read token; /healthz and /readyz do not', async (t) => {
  const cfg = config({ listen: '0.0.0.0:7400', http: { read_token_file: tokenFile } });
  const store = Store.open(join(tempDir(t), 'upshift.db'), () => Date.now());
  const app = buildServer({ config: cfg, store, ...serverViews(cfg, store), log: quiet, exposure: loadHttpExposure(cfg) });
  await app.listen({ host: '0.0.0.0', port: 0 });
  t.teardown(async () => {
    await app.close();
    store.close();
  });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  for (const path of ['/v1/status', '/metrics']) {
    const bare = await fetch(`${base}${path}`);
    t.equal(bare.status, 401, `${path} without a token`);
    t.equal(bare.headers.get('www-authenticate'), 'Bearer realm="upshift"');
    const body = (await bare.json()) as { ok: boolean; error: { code: string } };
    t.match(body, { ok: false, error: { code: 'E_UNAUTHORIZED' } });
    t.notMatch(JSON.stringify(body), /web-1|edge|eu/, 'nothing about the node leaks');
    const wrong = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}x` } });
    t.equal(wrong.status, 401, `${path} with another token`);
    await wrong.body?.cancel();
    const right = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    t.equal(right.status, 200, `${path} with the token`);
    t.match(await right.text(), /web-1/);
  }
  t.equal((await fetch(`${base}/healthz`)).status, 200);
  t.equal((await fetch(`${base}/readyz`)).status, 200);
});

t.test('HTTPS: a pinned client gets through, a wrong pin and an untrusted certificate are refused before sending', async (t) => {
  const cfg = config({ http: { tls: { cert: tls.cert, key: tls.key } } });
  const store = Store.open(join(tempDir(t), 'upshift.db'), () => Date.now());
  let posted = 0;
  const app = buildServer({
    config: cfg, store, ...serverViews(cfg, store), log: quiet, exposure: loadHttpExposure(cfg),
    plugins: [(a) => a.post('/v1/echo', async (req) => ((posted += 1), { ok: true, got: req.body }))],
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    await app.close();
    store.close();
  });
  t.match(address, /^https:\/\/127\.0\.0\.1:\d+$/);
  const post = (check: TlsCheck) => smallRequest(new URL(`${address}/v1/echo`), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"secret":"token"}', timeoutMs: 10_000, maxBytes: 4096, tls: check,
  });
  const pinned = await post({ pin: tls.fingerprint });
  t.equal(pinned.status, 200);
  t.same(JSON.parse(pinned.text as string), { ok: true, got: { secret: 'token' } });
  await t.rejects(post({ pin: other.fingerprint }), { code: 'E_TLS_PIN', details: { expected: other.fingerprint, got: tls.fingerprint } });
  await t.rejects(post('ca'), { code: 'E_TLS_UNTRUSTED' }, 'a self-signed certificate is not CA-valid');
  t.equal(posted, 1, 'the refused requests never reached the handler');
  t.equal((await post('none')).status, 200, 'unchecked (gossip between peers) still talks');
  const capped = await smallRequest(new URL(`${address}/v1/echo`), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ x: 'y'.repeat(8000) }), timeoutMs: 10_000, maxBytes: 1024, tls: 'none',
  });
  t.equal(capped.text, null, 'an answer over maxBytes is dropped');
  await t.rejects(smallRequest(new URL('https://127.0.0.1:1/'), { method: 'GET', timeoutMs: 5000, maxBytes: 10, tls: 'none' }), { code: 'E_UNREACHABLE' });
});
