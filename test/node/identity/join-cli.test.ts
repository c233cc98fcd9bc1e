import t from 'tap';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Store } from '../../../src/adapters/sqlite/store.js';
import { createWorkspace } from '../../../scripts/demo/workspace.js';
import { cachedConfig } from '../../../src/runtime/config-cache.js';
import { loadConfig } from '../../../src/runtime/config-load.js';
import { handleJoin, loadNodeIdentity, revocationCheck } from '../../../src/node/identity.js';
import { loadKeyFile, loadSigners } from '../../../src/trust/keyfile.js';
import { loadKeyset } from '../../../src/trust/keyset.js';
import { verifyCert } from '../../../src/trust/node-cert.js';
import { verifyRevocations } from '../../../src/trust/revocation-list.js';
import { toHex } from '../../../src/trust/bytes.js';
import { diag, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

// The authority: a demo workspace (config + release key), and its /v1/join served by a
// plain node:http server on a loopback port, the same handler the daemon mounts.
// Set up before the first t.test: an await between tests lets tap end the file early.
const root = tempDir(t, 'upshift-join-');
const ws = await createWorkspace(join(root, 'authority'), { source: join(root, 'source'), fleet: 'edge' });
const keyset = loadKeyset({ keys: [{ public: ws.publicKey }] });
const fleetCli = (...args: string[]) => runCli(['-c', ws.configPath, 'fleet', ...args]);

// `fleet token` creates the state database; the server opens it afterwards.
const first = await fleetCli('token', '--labels', 'region=eu-west', '--ttl', '10m', '--json');
const store = Store.open(join(ws.stateDir, 'upshift.db'), () => Date.now());
const signers = await loadSigners([ws.keyPath]);
const server: Server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    void (async () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = undefined;
      }
      const out = req.url === '/v1/join' && req.method === 'POST'
        ? await handleJoin(body, { store, signers, keyset, fleet: 'edge', now: () => Date.now() })
        : { status: 404, body: { ok: false } };
      res.writeHead(out.status, { 'content-type': 'application/json' }).end(JSON.stringify(out.body));
    })();
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
t.teardown(() => {
  server.close();
  store.close();
});

/** A node config: the same trust key, no authority section. */
function nodeConfig(id: string): string {
  const dir = join(root, id);
  const path = join(tempDir(t), 'upshift.yaml');
  writeFileSync(path, stringify({
    fleet: 'edge',
    state_dir: join(dir, 'state'),
    node: { id, labels: { region: 'us', rack: 'r1' }, key: join(dir, 'keys/node.key'), cert: join(dir, 'keys/node.cert') },
    trust: { keys: [{ public: ws.publicKey }] },
  }));
  return path;
}

t.test('upshift fleet token then upshift join over loopback HTTP writes a cert that verifies', async (t) => {
  t.equal(first.code, 0, 'fleet token exits 0', diag(first));
  const { token, expires_at, labels } = first.json();
  t.match(token, /^[A-Za-z0-9_-]{43}$/);
  t.same(labels, { region: 'eu-west' });
  t.ok(Date.parse(expires_at) > Date.now());

  const cfg = nodeConfig('edge-1');
  const r = await runCli(['-c', cfg, 'join', '--authority', url, '--token', token, '--json']);
  t.equal(r.code, 0, 'join exits 0', diag(r));
  const out = r.json();
  t.match(out, { ok: true, node_id: 'edge-1', fleet: 'edge', key_created: true, labels: { region: 'eu-west', rack: 'r1' } });

  const { config } = loadConfig(cfg);
  t.equal(statSync(config.node.cert).mode & 0o777, 0o644, 'the cert is world-readable');
  t.equal(statSync(config.node.key).mode & 0o777, 0o600, 'the key is not');
  const cert = verifyCert(readFileSync(config.node.cert, 'utf8'), keyset, { now: Date.now(), fleet: 'edge' });
  t.equal(cert.public_key, toHex((await loadKeyFile(config.node.key)).publicKey), "the cert names this node's key");
  t.equal(cert.url, 'http://127.0.0.1:7400', 'and the address it advertises (here http://<gossip.listen>)');
  t.equal(out.url, cert.url);

  const identity = await loadNodeIdentity(config, { now: Date.now() });
  t.equal(identity.problem, null);
  t.equal(identity.cert?.serial, cert.serial);
  t.ok(cachedConfig(cfg, readFileSync(cfg, 'utf8')), 'the config is cached: the daemon\'s first start needs no config child');
  t.equal(statSync(config.state_dir).mode & 0o777, 0o700, 'in a state dir only the daemon\'s user enters');

  const again = await runCli(['-c', nodeConfig('edge-2'), 'join', '--authority', url, '--token', token, '--json']);
  t.equal(again.code, 1, 'the same token a second time fails', diag(again));
  t.equal(again.json().error.code, 'E_TOKEN');
});

t.test('fleet certs lists the cert and fleet revoke makes it refused', async (t) => {
  const list = await fleetCli('certs', '--json');
  t.equal(list.code, 0, diag(list));
  t.match(list.json().certs, [{ node_id: 'edge-1', status: 'valid', labels: { region: 'eu-west' } }]);

  const rev = await fleetCli('revoke', 'edge-1', '--reason', 'decommissioned', '--json');
  t.equal(rev.code, 0, diag(rev));
  t.match(rev.json(), { ok: true, node_id: 'edge-1', already_revoked: false, revocation_list: 1 });
  const signed = verifyRevocations(await store.kv.get('gossip.revocations') as string, keyset, 'edge');
  t.match(signed, { seq: 1, revoked: [{ node_id: 'edge-1', reason: 'decommissioned' }] }, 'a signed revocation list is held for gossip');
  t.match((await fleetCli('certs', '--json')).json().certs, [{ node_id: 'edge-1', status: 'revoked', revoke_reason: 'decommissioned' }]);
  t.equal((await fleetCli('revoke', 'nobody', '--reason', 'x', '--json')).json().error.code, 'E_USAGE');

  const { config } = loadConfig(nodeConfig('edge-1'));
  const identity = await loadNodeIdentity(config, { now: Date.now(), revoked: await revocationCheck(store) });
  t.match(identity, { cert: null, problem: { code: 'E_REVOKED' } });
});

t.test('join refuses a bad token, an unreachable authority, and a node without --authority', async (t) => {
  const cfg = nodeConfig('edge-3');
  const bad = await runCli(['-c', cfg, 'join', '--authority', url, '--token', 'A'.repeat(43), '--json']);
  t.match(bad.json(), { ok: false, error: { code: 'E_TOKEN', message: /not known/ } });
  const closed = await runCli(['-c', cfg, 'join', '--authority', 'http://127.0.0.1:1', '--token', 'A'.repeat(43), '--json']);
  t.match(closed.json(), { ok: false, error: { code: 'E_UNREACHABLE' } });
  const usage = await runCli(['-c', cfg, 'join', '--json']);
  t.equal(usage.code, 2);
  t.notOk(existsSync(join(root, 'edge-3')), 'a refused join makes no state dir');
  const token = await runCli(['-c', cfg, 'fleet', 'token', '--json']);
  t.match(token.json(), { ok: false, error: { code: 'E_CONFIG', message: /authority/ } }, 'only the authority makes tokens');
});

t.test('the authority certifies its own node key with join --self', async (t) => {
  const r = await runCli(['-c', ws.configPath, 'join', '--self', '--json']);
  t.equal(r.code, 0, diag(r));
  const { config } = loadConfig(ws.configPath);
  const identity = await loadNodeIdentity(config, { now: Date.now(), revoked: await revocationCheck(store) });
  t.equal(identity.problem, null);
  t.equal(identity.cert?.node_id, 'authority');
});
