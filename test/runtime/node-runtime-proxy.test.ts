// The daemon's node runtime brings the blue-green proxy up with it (certified or not: clients
// reach the app whatever gossip's state), serving the slot slots.json names, and closes it
// when it stops.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { systemClock } from '../../src/adapters/clock.js';
import { createLogger } from '../../src/adapters/logger.js';
import { validateConfig } from '../../src/core/config.js';
import { createNodeRuntime } from '../../src/runtime/node-runtime.js';
import { openStore } from '../../src/runtime/open-store.js';
import { toHex } from '../../src/trust/bytes.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { tempDir } from '../helpers/tmp.js';

const listenOn = async (handler: Parameters<typeof createServer>[1]) => {
  const s = createServer(handler);
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  return s;
};
const get = (port: number) => new Promise<string>((resolve) => {
  const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => resolve(body));
  });
  req.on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code}`));
  req.end();
});

t.test('the node runtime starts the proxy on app.blue_green.listen and stops it with the daemon', async (t) => {
  const root = tempDir(t, 'upshift-rt-proxy-');
  const blue = await listenOn((_req, res) => res.end('blue'));
  t.teardown(() => new Promise<void>((ok) => blue.close(() => ok())));
  const spare = await listenOn(() => {});
  const listen = (spare.address() as AddressInfo).port;
  await new Promise((ok) => spare.close(ok));
  const bluePort = (blue.address() as AddressInfo).port;
  const appDir = join(root, 'app');
  const config = validateConfig({
    fleet: 'edge', state_dir: join(root, 'state'), node: { id: 'n1', key: join(root, 'missing.key') },
    trust: { keys: [{ public: toHex(signerFromSeed(new Uint8Array(32).fill(3)).publicKey) }] },
    app: {
      dir: appDir, remote: 'unused', restart: 'true', health: { url: `http://127.0.0.1:${listen}/healthz` },
      blue_green: { listen: `127.0.0.1:${listen}`, ports: [bluePort, bluePort + 1 === listen ? bluePort + 2 : bluePort + 1], stop: 'true' },
    },
  });
  mkdirSync(appDir, { recursive: true });
  writeFileSync(join(appDir, 'slots.json'), JSON.stringify({ active: { slot: 'blue', port: bluePort, release: 'v1-abc' }, retiring: null }));
  const store = openStore(config.state_dir, systemClock);
  t.teardown(() => store.close());

  const runtime = await createNodeRuntime(config, store, createLogger({ level: 'silent' }), systemClock);
  t.match(runtime.problem, /not certified/, 'no certificate: gossip is off');
  await runtime.start();
  t.equal(await get(listen), 'blue', 'the proxy serves the slot slots.json names');
  await runtime.stop();
  t.match(await get(listen), /^error ECONNREFUSED/, 'stopped with the runtime');

  // the address taken: the daemon cannot start, and says which setting
  const squatter = await listenOn(() => {});
  t.teardown(() => new Promise<void>((ok) => squatter.close(() => ok())));
  const taken = (squatter.address() as AddressInfo).port;
  const again = await createNodeRuntime({ ...config, app: { ...config.app!, blue_green: { ...config.app!.blue_green!, listen: `127.0.0.1:${taken}` } } },
    store, createLogger({ level: 'silent' }), systemClock);
  await t.rejects(again.start(), { code: 'E_LISTEN', message: /app\.blue_green\.listen: cannot listen on 127\.0\.0\.1:\d+/ });
  await again.stop();
});
