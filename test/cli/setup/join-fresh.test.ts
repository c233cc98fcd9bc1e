// A fresh node joins with exactly the command `fleet token` prints, and gets a working
// upshift.yaml, its key and certificate. Every failure (authority unreachable, wrong or used
// token, TLS pin or keyset mismatch, an existing config) is coded, names its step and
// leaves nothing behind. The authority: the daemon's /v1/join routes over HTTPS on a loopback port.
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { createLogger } from '../../../src/adapters/logger.js';
import { Store } from '../../../src/adapters/sqlite/store.js';
import { freePort } from '../../../scripts/demo/ports.js';
import { createWorkspace } from '../../../scripts/demo/workspace.js';
import { loadHttpExposure } from '../../../src/http/exposure.js';
import { joinRoute } from '../../../src/http/routes/join.js';
import { buildServer } from '../../../src/http/server.js';
import { handleJoin, loadNodeIdentity } from '../../../src/node/identity.js';
import { joinInfo } from '../../../src/node/join-info.js';
import { cachedConfig } from '../../../src/runtime/config-cache.js';
import { loadConfig } from '../../../src/runtime/config-load.js';
import { loadSigners } from '../../../src/trust/keyfile.js';
import { keysetOf } from '../../../src/trust/keyset.js';
import { trustFingerprint } from '../../../src/trust/keyset-fingerprint.js';
import { diag, runCli } from '../../helpers/cli.js';
import { serverViews } from '../../helpers/server-views.js';
import { tempDir } from '../../helpers/tmp.js';
import { makeTlsCert } from '../../helpers/tls.js';

// Set up before the first t.test: an await between tests lets tap end the file early.
const root = tempDir(t, 'upshift-join-fresh-');
const ws = await createWorkspace(join(root, 'authority'), { source: join(root, 'source'), fleet: 'edge' });
const tls = makeTlsCert(join(root, 'authority', 'keys'));
const other = makeTlsCert(root, 'other');
const port = await freePort();
const doc = parse(readFileSync(ws.configPath, 'utf8')) as Record<string, Record<string, unknown>>;
writeFileSync(ws.configPath, stringify({
  ...doc, gossip: { ...doc.gossip, listen: `127.0.0.1:${port}` }, http: { tls: { cert: 'keys/tls.crt', key: 'keys/tls.key' } },
}));
const { config } = loadConfig(ws.configPath);
const keyset = keysetOf(config);
/** `fleet token` as an operator runs it: the human output, and the command in it. */
async function printed(...args: string[]): Promise<string[]> {
  const r = await runCli(['-c', ws.configPath, 'fleet', 'token', ...args]);
  const line = /^ {2}(upshift join .*)$/m.exec(r.stdout)?.[1];
  if (r.code !== 0 || !line) throw new Error(`fleet token printed no join command: ${r.stdout}${r.stderr}`);
  return line.split(' ').slice(1);
}
const first = await printed('--node', 'web-3', '--labels', 'region=eu');

const store = Store.open(join(ws.stateDir, 'upshift.db'), () => Date.now());
const issue = { store, signers: await loadSigners([ws.keyPath]), keyset, fleet: 'edge', now: () => Date.now() };
const server = buildServer({
  config, store, ...serverViews(config, store), log: createLogger({ level: 'silent' }), exposure: loadHttpExposure(config),
  plugins: [joinRoute((body) => handleJoin(body, issue), () => joinInfo(config, keyset))],
});
await server.listen({ host: '127.0.0.1', port });
t.teardown(async () => {
  await server.close();
  store.close();
});

const join_ = (args: string[], dir: string) => runCli([...args, '--dir', dir, '--listen', '127.0.0.1:7511', '--json']);
/** Replace the value of one option of the printed command. */
const withArg = (args: string[], name: string, value: string) => args.map((a, i) => (args[i - 1] === name ? value : a));
const nothingLeft = (dir: string) => !existsSync(dir) || readdirSync(dir, { recursive: true }).length === 0;

t.test('fleet token prints one complete command: authority, TLS pin, token, trust fingerprint, node id', async (t) => {
  t.same(first.filter((a) => a.startsWith('--')), ['--authority', '--authority-fingerprint', '--token', '--trust', '--node-id']);
  t.equal(withArg(first, '--trust', '').length, first.length);
  t.equal(first[first.indexOf('--authority') + 1], `https://127.0.0.1:${port}`);
  t.equal(first[first.indexOf('--authority-fingerprint') + 1], tls.fingerprint);
  t.equal(first[first.indexOf('--trust') + 1], trustFingerprint(keyset));
  const json = (await runCli(['-c', ws.configPath, 'fleet', 'token', '--json'])).json();
  t.match(json, { ok: true, trust_fingerprint: trustFingerprint(keyset), authority_fingerprint: tls.fingerprint, node_id: null });
  t.match(json.join_command, new RegExp(`^upshift join --authority https://127.0.0.1:${port} --authority-fingerprint \\S+ --token ${json.token} --trust `));
});

t.test('a refused join names the step, has a code, and writes nothing', async (t) => {
  const dir = join(root, 'refused');
  const cases: Array<[string, string[], string, string, number]> = [
    ['unreachable', withArg(first, '--authority', 'https://127.0.0.1:1'), 'E_UNREACHABLE', 'reach the authority', 1],
    ['TLS pin', withArg(first, '--authority-fingerprint', other.fingerprint), 'E_TLS_PIN', 'reach the authority', 1],
    ['keyset', withArg(first, '--trust', `sha256:${'0'.repeat(64)}`), 'E_TRUST_MISMATCH', 'check the trust fingerprint', 1],
    ['bad token', withArg(first, '--token', 'A'.repeat(43)), 'E_TOKEN', 'redeem the token', 1],
    ['bad --trust', withArg(first, '--trust', 'sha256:xyz'), 'E_USAGE', 'check the arguments', 2],
  ];
  for (const [what, args, code, step, exit] of cases) {
    const r = await join_(args, dir);
    t.equal(r.code, exit, `${what}: exit ${exit}`, diag(r));
    t.match(r.json(), { ok: false, error: { code, message: new RegExp(`^join failed at "${step}": .*nothing was written$`), details: { step } } }, what);
    t.ok(nothingLeft(dir), `${what}: no config, no key, no directory`);
  }
  mkdirSync(join(root, 'keys-file'));
  writeFileSync(join(root, 'keys-file', 'keys'), 'not a directory');
  const blocked = await join_(first, join(root, 'keys-file'));
  t.match(blocked.json(), { ok: false, error: { code: 'E_EXISTS', details: { step: 'check the arguments' } } }, 'keys/ is a file: found before the token is spent');
  t.same(readdirSync(join(root, 'keys-file')), ['keys']);
  t.equal((await store.identity.certs()).length, 0, 'no certificate was issued: the token is unspent');
});

t.test('the printed command writes a config the daemon loads, a key and a certificate; the token is then spent', async (t) => {
  const dir = join(root, 'web-3');
  const r = await join_(first, dir);
  t.equal(r.code, 0, diag(r));
  t.match(r.json(), { ok: true, node_id: 'web-3', fleet: 'edge', labels: { region: 'eu' }, key_created: true });
  const loaded = loadConfig(join(dir, 'upshift.yaml')).config;
  t.match(loaded, {
    fleet: 'edge', node: { id: 'web-3', labels: { region: 'eu' }, tracks: ['testnet', 'production'] },
    gossip: { listen: '127.0.0.1:7511', seeds: [`https://127.0.0.1:${port}`] }, state_dir: join(dir, 'state'),
  });
  t.equal(trustFingerprint(keysetOf(loaded)), trustFingerprint(keyset), 'the trust section is the authority\'s');
  t.equal(statSync(loaded.node.key).mode & 0o777, 0o600);
  const identity = await loadNodeIdentity(loaded, { now: Date.now() });
  t.equal(identity.problem, null, 'the certificate verifies and names this key');
  t.same(JSON.parse(readFileSync(join(dir, 'keys/authority-tls.json'), 'utf8')), { origin: `https://127.0.0.1:${port}`, tls: { pin: tls.fingerprint } });
  const text = readFileSync(join(dir, 'upshift.yaml'), 'utf8');
  t.match(text, /^# app:\n#\s+dir: /m, 'a commented app section');
  t.ok(cachedConfig(join(dir, 'upshift.yaml'), text), 'cached, so the daemon\'s first start needs no config child');
  t.equal(statSync(join(dir, 'state')).mode & 0o777, 0o700);
  t.notOk(readdirSync(dir, { recursive: true }).some((f) => String(f).endsWith('.tmp')), 'no temp file left');
  const status = await runCli(['-c', join(dir, 'upshift.yaml'), 'status', '--json']);
  t.equal(status.code, 0, 'status reads it', diag(status));

  const again = await join_(first, join(root, 'web-4'));
  t.match(again.json(), { ok: false, error: { code: 'E_TOKEN', details: { step: 'redeem the token' } } }, 'a used token');
  t.ok(nothingLeft(join(root, 'web-4')));
});

t.test('an existing config is kept unless --force', async (t) => {
  const dir = join(root, 'web-3');
  const before = readFileSync(join(dir, 'upshift.yaml'), 'utf8');
  const fresh = await printed('--node', 'web-3');
  const refused = await join_(fresh, dir);
  t.equal(refused.code, 2, diag(refused));
  t.match(refused.json(), { ok: false, error: { code: 'E_EXISTS', message: /--force/, details: { step: 'check the arguments' } } });
  t.equal(readFileSync(join(dir, 'upshift.yaml'), 'utf8'), before, 'the config is untouched');
  const forced = await runCli([...fresh, '--dir', dir, '--listen', '127.0.0.1:7512', '--force', '--json']);
  t.equal(forced.code, 0, diag(forced));
  t.match(forced.json(), { key_created: false }, 'the node keeps its key');
  t.equal(loadConfig(join(dir, 'upshift.yaml')).config.gossip.listen, '127.0.0.1:7512');
});

t.test('a node listening beyond loopback names where peers call it and gets a read token', async (t) => {
  const args = await printed('--node', 'web-5');
  const dir = join(root, 'web-5');
  const blind = await runCli([...args, '--dir', dir, '--listen', '0.0.0.0:7513', '--json']);
  t.match(blind.json(), { ok: false, error: { code: 'E_USAGE', message: /--advertise/, details: { step: 'check the arguments' } } });
  t.ok(nothingLeft(dir));
  const r = await runCli([...args, '--dir', dir, '--listen', '0.0.0.0:7513', '--advertise', 'http://127.0.0.1:7513', '--json']);
  t.equal(r.code, 0, diag(r));
  const loaded = loadConfig(join(dir, 'upshift.yaml')).config;
  t.match(loaded, { gossip: { listen: '0.0.0.0:7513', advertise: 'http://127.0.0.1:7513' }, http: { read_token_file: join(dir, 'keys/read.token') } });
  t.equal(statSync(join(dir, 'keys/read.token')).mode & 0o777, 0o600);
  t.match(loadHttpExposure(loaded), { readToken: /^[0-9a-f]{64}$/ }, 'the daemon would start with its reads behind the token');
  t.equal((await loadNodeIdentity(loaded, { now: Date.now() })).cert?.url, 'http://127.0.0.1:7513', 'the certificate names the advertised address');
});
