// The authority's side: `ota publish` writes the feed of a completed run (GitHub Releases
// shape, manifest and a bundle whose tree hashes as signed), the daemon's /v1/ota/ route serves
// it with Range, and a node checking that feed installs the release from it.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Fastify from 'fastify';
import t from 'tap';
import { systemClock } from '../../src/adapters/clock.js';
import { codeHash } from '../../src/adapters/code-hash-files.js';
import { createExec } from '../../src/adapters/exec.js';
import { Store } from '../../src/adapters/sqlite/store.js';
import { validateConfig } from '../../src/core/config.js';
import { otaRoutes } from '../../src/http/ota-routes.js';
import { ApplyEngine } from '../../src/node/apply/engine.js';
import { runOtaCheck } from '../../src/ota/check.js';
import { publishFeed } from '../../src/ota/publish.js';
import { driveRun, startRun } from '../../src/services/pipeline.js';
import { keysetOf } from '../../src/trust/keyset.js';
import { testAuthority } from '../helpers/authority.js';
import { tempDir } from '../helpers/tmp.js';
import { sha256 } from './ota-bed.js';

t.test('a completed run is published, served with Range, and installed by a node from the feed', async (t) => {
  const a = await testAuthority(t);
  const { store, config, keyset } = a.service.deps;
  const { run } = (await startRun(a.service, { ref: 'main' })).evidence;
  await driveRun(a.service, { runId: run.id, until: 'terminal' });
  t.equal((await store.getRun(run.id))?.status, 'completed');

  const dir = tempDir(t, 'upshift-feed-');
  const published = await publishFeed({ config, store, keyset }, { dir });
  t.match(published, [{ track: 'testnet', releases: [{ tag: 'testnet-1', seq: 1, added: true }], skipped: [] }, { track: 'production', releases: [] }]);
  const feed = JSON.parse(readFileSync(join(dir, 'testnet', 'releases.json'), 'utf8'));
  t.equal(feed.length, 1);
  t.match(feed[0], { tag_name: 'testnet-1', draft: false, prerelease: false, published_at: String });
  for (const asset of feed[0].assets) {
    const bytes = readFileSync(join(dir, 'testnet', 'testnet-1', asset.name));
    t.equal(asset.size, bytes.length, `${asset.name}: size`);
    t.equal(asset.digest, `sha256:${sha256(bytes)}`, `${asset.name}: digest`);
    t.equal(asset.browser_download_url, `testnet-1/${asset.name}`, 'relative to the feed');
  }
  t.equal(readFileSync(join(dir, 'testnet', 'testnet-1', 'manifest.json'), 'utf8'), (await store.manifests.get('testnet', 1))?.envelope, 'the envelope byte for byte');
  const again = await publishFeed({ config, store, keyset }, { dir });
  t.match(again[0], { releases: [{ tag: 'testnet-1', added: false }] }, 'publishing again writes nothing new');

  // the daemon's read-only route
  const app = Fastify();
  otaRoutes(dir)(app);
  const bundle = feed[0].assets[1];
  const whole = await app.inject({ url: `/v1/ota/testnet/testnet-1/${bundle.name}` });
  t.equal(whole.statusCode, 200);
  t.equal(whole.headers['accept-ranges'], 'bytes');
  const part = await app.inject({ url: `/v1/ota/testnet/testnet-1/${bundle.name}`, headers: { range: 'bytes=100-' } });
  t.equal(part.statusCode, 206);
  t.equal(part.headers['content-range'], `bytes 100-${bundle.size - 1}/${bundle.size}`);
  t.equal(part.rawPayload.length, bundle.size - 100);
  for (const bad of ['/v1/ota/%2e%2e/%2e%2e/etc/passwd', '/v1/ota/..%2f..%2fetc/passwd', '/v1/ota/testnet/.publish-x/y', '/v1/ota/releases.json']) {
    t.equal((await app.inject({ url: bad })).statusCode, 404, `${bad} is not served`);
  }
  t.equal((await app.inject({ url: `/v1/ota/testnet/testnet-1/${bundle.name}`, headers: { range: `bytes=${bundle.size}-` } })).statusCode, 416);
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());

  // a node of the same fleet, with an app that is healthy whatever runs
  const health = createServer((_q, r) => r.end('ok'));
  await new Promise<void>((ok) => health.listen(0, '127.0.0.1', ok));
  t.teardown(() => new Promise<void>((ok) => health.close(() => ok())));
  const root = tempDir(t, 'upshift-otanode-');
  const nodeConfigOf = (r: string) => ({
    fleet: config.fleet, state_dir: join(r, 'state'), node: { id: 'far-away', tracks: ['testnet'] }, trust: { keys: [{ public: a.ws.publicKey }] },
    app: {
      dir: join(r, 'app'), remote: '/nonexistent', restart: 'true', healthy_deadline: '5s', min_healthy: '100ms',
      health: { url: `http://127.0.0.1:${(health.address() as AddressInfo).port}/`, interval: '50ms' },
    },
  });
  const node = validateConfig({ ...nodeConfigOf(root), ota: { feed: `${base}/v1/ota/{track}/releases.json` } });
  const nodeStore = Store.open(join(root, 'state', 'upshift.db'), () => Date.now());
  t.teardown(() => nodeStore.close());
  const tables = nodeStore.journal;
  const nodeKeys = keysetOf(node);
  const engine = new ApplyEngine({
    node: { id: 'far-away', fleet: node.fleet, tracks: ['testnet'] }, app: node.app!, stateDir: node.state_dir, store: nodeStore, tables,
    keyset: nodeKeys, exec: createExec(), clock: systemClock, codeHash: (d) => codeHash(d),
  });
  const out = await runOtaCheck({ config: node, store: nodeStore, tables, keyset: nodeKeys, engine, clock: systemClock }, { apply: true });
  t.equal(out.outcome, 'updated', out.reason);
  t.equal((await nodeStore.floors.get('testnet')), 1);
  t.ok(existsSync(join(root, 'app', 'current', 'sample.json')), 'the sample app is installed from the bundle');
  t.notOk(existsSync(join(root, 'app', 'current', '.git')), 'extracted, not cloned');

  // an air-gapped node: the same directory copied, read as a file feed
  const root2 = tempDir(t, 'upshift-otanode-');
  const fileNode = validateConfig({ ...nodeConfigOf(root2), ota: { feed: join(dir, '{track}', 'releases.json') } });
  const store2 = Store.open(join(root2, 'state', 'upshift.db'), () => Date.now());
  t.teardown(() => store2.close());
  const tables2 = store2.journal;
  const engine2 = new ApplyEngine({
    node: { id: 'far-away', fleet: node.fleet, tracks: ['testnet'] }, app: fileNode.app!, stateDir: fileNode.state_dir, store: store2, tables: tables2,
    keyset: nodeKeys, exec: createExec(), clock: systemClock, codeHash: (d) => codeHash(d),
  });
  const fromFile = await runOtaCheck({ config: fileNode, store: store2, tables: tables2, keyset: nodeKeys, engine: engine2, clock: systemClock }, { apply: true });
  t.equal(fromFile.outcome, 'updated', `from a file feed: ${fromFile.reason}`);
  t.ok(existsSync(join(root2, 'app', 'current', 'sample.json')));
});
