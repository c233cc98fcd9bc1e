import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { createLogger } from '../../../src/adapters/logger.js';
import { Store } from '../../../src/adapters/sqlite/store.js';
import { createWorkspace } from '../../../scripts/demo/workspace.js';
import { smallRequest } from '../../../src/adapters/http-client.js';
import { gossipRoutes } from '../../../src/http/gossip-routes.js';
import { loadHttpExposure } from '../../../src/http/exposure.js';
import { buildServer } from '../../../src/http/server.js';
import { httpTransport } from '../../../src/node/agent/http-transport.js';
import { loadPeerTlsChecks } from '../../../src/node/authority-pin.js';
import { handleJoin } from '../../../src/node/identity.js';
import { keysetOf } from '../../../src/trust/keyset.js';
import { loadConfig } from '../../../src/runtime/config-load.js';
import { loadSigners } from '../../../src/trust/keyfile.js';
import { verifyCert } from '../../../src/trust/node-cert.js';
import { CLI_PATH, diag, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';
import { makeTlsCert } from '../../helpers/tls.js';
import { serverViews } from '../../helpers/server-views.js';
import { spawnChild } from '../../helpers/procs.js';

// An authority served over HTTPS with a self-signed certificate made by openssl: the same
// buildServer, exposure and /v1/join handler the daemon mounts, on a loopback port.
// Set up before the first t.test: an await between tests lets tap end the file early.
const root = tempDir(t, 'upshift-join-tls-');
const ws = await createWorkspace(join(root, 'authority'), { source: join(root, 'source'), fleet: 'edge' });
const tls = makeTlsCert(join(root, 'authority', 'keys'));
const other = makeTlsCert(root, 'other');
const doc = parse(readFileSync(ws.configPath, 'utf8')) as Record<string, unknown>;
// relative paths, resolved against the config file like every other path
writeFileSync(ws.configPath, stringify({ ...doc, http: { tls: { cert: 'keys/tls.crt', key: 'keys/tls.key' } } }));
const { config: authorityConfig } = loadConfig(ws.configPath);
const tokenCli = async () => (await runCli(['-c', ws.configPath, 'fleet', 'token', '--json'])).json().token as string;
const firstToken = await tokenCli();

const store = Store.open(join(ws.stateDir, 'upshift.db'), () => Date.now());
const issue = { store, signers: await loadSigners([ws.keyPath]), keyset: keysetOf(authorityConfig), fleet: 'edge', now: () => Date.now() };
const server = buildServer({
  config: authorityConfig, store, ...serverViews(authorityConfig, store), log: createLogger({ level: 'silent' }), exposure: loadHttpExposure(authorityConfig),
  plugins: [
    (app) => app.post('/v1/join', async (req, reply) => {
      const r = await handleJoin(req.body, issue);
      return reply.status(r.status).send(r.body);
    }),
    // an echo stands in for the gossip node: the transport's TLS is what is under test
    gossipRoutes({ receive: async (wire) => wire }),
  ],
});
const url = await server.listen({ host: '127.0.0.1', port: 0 });
t.teardown(async () => {
  await server.close();
  store.close();
});

/** A node config: the same trust key, no authority section; its key and cert go under its own dir. */
function nodeConfig(id: string): { path: string; dir: string } {
  const dir = join(root, id);
  const path = join(tempDir(t), 'upshift.yaml');
  writeFileSync(path, stringify({
    fleet: 'edge', state_dir: join(dir, 'state'),
    node: { id, key: join(dir, 'keys/node.key'), cert: join(dir, 'keys/node.cert') },
    trust: { keys: [{ public: ws.publicKey }] },
  }));
  return { path, dir };
}

const nothingWritten = (dir: string) => !existsSync(dir) || readdirSync(dir, { recursive: true }).length === 0;

t.test('fleet token prints the fingerprint of the authority\'s TLS certificate and a join command that pins it', async (t) => {
  t.match(url, /^https:/);
  const r = await runCli(['-c', ws.configPath, 'fleet', 'token']);
  t.equal(r.code, 0, diag(r));
  t.match(r.stdout, `the authority's TLS certificate: ${tls.fingerprint}`);
  t.match(r.stdout, `upshift join --authority https://127.0.0.1:0 --authority-fingerprint ${tls.fingerprint} --token `);
  const json = await runCli(['-c', ws.configPath, 'fleet', 'token', '--json']);
  t.match(json.json(), { ok: true, authority: 'https://127.0.0.1:0', authority_fingerprint: tls.fingerprint });
});

t.test('a wrong pin and an untrusted certificate are refused with nothing written and the token unspent', async (t) => {
  const node = nodeConfig('edge-1');
  const wrong = await runCli(['-c', node.path, 'join', '--authority', url, '--authority-fingerprint', other.fingerprint, '--token', firstToken, '--json']);
  t.equal(wrong.code, 1, diag(wrong));
  t.match(wrong.json(), { ok: false, error: { code: 'E_TLS_PIN', details: { expected: other.fingerprint, got: tls.fingerprint } } });
  t.ok(nothingWritten(node.dir), 'no key, no cert, no pin file');

  const unpinned = await runCli(['-c', node.path, 'join', '--authority', url, '--token', firstToken, '--json']);
  t.match(unpinned.json(), { ok: false, error: { code: 'E_TLS_UNTRUSTED' } }, 'a self-signed certificate needs a pin');
  t.ok(nothingWritten(node.dir));
  t.equal((await store.identity.certs()).length, 0, 'the authority issued nothing');

  const plain = await runCli(['-c', node.path, 'join', '--authority', 'http://auth.invalid:7400', '--token', firstToken, '--json']);
  t.equal(plain.code, 2, diag(plain));
  t.match(plain.json(), { ok: false, error: { code: 'E_INSECURE', message: /clear text/ } });
  t.ok(nothingWritten(node.dir));
  const insecure = await runCli(['-c', node.path, 'join', '--authority', 'http://auth.invalid:7400', '--insecure', '--token', firstToken, '--json']);
  t.match(insecure.json(), { ok: false, error: { code: 'E_UNREACHABLE' } }, '--insecure lets it try (and this name resolves nowhere)');
  t.ok(nothingWritten(node.dir), 'a join that cannot reach the authority leaves no key either');
});

t.test('join with the right pin is certified, and gossip to the authority checks the same pin', async (t) => {
  const node = nodeConfig('edge-1');
  const r = await runCli(['-c', node.path, 'join', '--authority', url, '--authority-fingerprint', tls.fingerprint, '--token', firstToken, '--json']);
  t.equal(r.code, 0, diag(r));
  t.match(r.json(), { ok: true, node_id: 'edge-1', key_created: true, authority_tls_path: join(node.dir, 'keys/authority-tls.json') });
  const { config } = loadConfig(node.path);
  verifyCert(readFileSync(config.node.cert, 'utf8'), keysetOf(config), { now: Date.now(), fleet: 'edge' });
  const checks = loadPeerTlsChecks(config);
  t.same([...checks], [[new URL(url).origin, { pin: tls.fingerprint }]]);

  const wire = { payload: 'p', sig: 's', cert: 'c' };
  const refused: string[] = [];
  const pinned = httpTransport({ maxBodyBytes: 4096, tlsChecks: checks, onTlsRefused: (u) => void refused.push(u) });
  t.same(await pinned.send({ id: null, url }, wire), wire, 'the pinned authority answers');
  const mispinned = httpTransport({ maxBodyBytes: 4096, tlsChecks: new Map([[new URL(url).origin, { pin: other.fingerprint }]]), onTlsRefused: (u) => void refused.push(u) });
  t.equal(await mispinned.send({ id: null, url }, wire), null, 'a certificate that is not the pinned one: the message is lost');
  t.same(refused, [url], 'and said');
  const unpinned = httpTransport({ maxBodyBytes: 4096 });
  t.same(await unpinned.send({ id: null, url }, wire), wire, 'any other https peer is talked to unverified (messages are signed end to end)');
});

t.test('a daemon bound beyond loopback without a read token does not start', async (t) => {
  const node = nodeConfig('edge-9');
  const cfg = parse(readFileSync(node.path, 'utf8')) as Record<string, unknown>;
  writeFileSync(node.path, stringify({ ...cfg, gossip: { listen: '0.0.0.0:0' } }));
  const child = spawnChild(t, process.execPath, [CLI_PATH, '-c', node.path, 'daemon'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.equal(code, 2, out);
  t.match(out, /E_CONFIG.*http\.read_token_file/s);
  t.ok(nothingWritten(node.dir), 'it stopped before opening any state');
});

t.test('a daemon with http.tls and a read token serves HTTPS and asks for the token beyond loopback', async (t) => {
  const node = nodeConfig('edge-8');
  const tokenFile = join(node.dir, 'read.token');
  const cfg = parse(readFileSync(node.path, 'utf8')) as Record<string, unknown>;
  writeFileSync(node.path, stringify({ ...cfg, gossip: { listen: '0.0.0.0:0' }, http: { tls: { cert: tls.cert, key: tls.key }, read_token_file: tokenFile } }));
  mkdirSync(node.dir, { recursive: true });
  writeFileSync(tokenFile, 'a-read-token-of-some-length\n', { mode: 0o600 });
  const child = spawnChild(t, process.execPath, [CLI_PATH, '-c', node.path, 'daemon'], { stdio: ['ignore', 'pipe', 'pipe'], env: { UPSHIFT_LOG_LEVEL: 'info' } });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let logs = '';
  const port = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      logs += d;
      const m = /"address":"https:\/\/[^"]+:(\d+)"/.exec(logs);
      if (m) resolve(m[1] as string);
    });
    void exited.then((code) => reject(new Error(`daemon exited ${code}: ${logs}`)));
  });
  const get = (headers: Record<string, string> = {}) => smallRequest(new URL(`https://127.0.0.1:${port}/v1/status`), {
    method: 'GET', headers, timeoutMs: 10_000, maxBytes: 1 << 20, tls: { pin: tls.fingerprint },
  });
  const bare = await get();
  t.equal(bare.status, 401, 'no token: 401');
  t.match(JSON.parse(bare.text as string), { error: { code: 'E_UNAUTHORIZED' } });
  const ok = await get({ authorization: 'Bearer a-read-token-of-some-length' });
  t.equal(ok.status, 200, 'with the token: the status');
  t.match(JSON.parse(ok.text as string), { node: { id: 'edge-8' } });
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM is a clean stop');
});
