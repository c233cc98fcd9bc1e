// The blue-green proxy on its own: it follows slots.json as it changes, refuses connections
// while no slot serves, and keeps serving the last good slot when the file goes bad.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { readSlots, writeSlots } from '../../../src/node/apply/slots.js';
import { SlotProxy } from '../../../src/node/traffic/proxy.js';
import { tempDir } from '../../helpers/tmp.js';

const answering = async (t: { teardown(fn: () => unknown): void }, body: string) => {
  const s = createServer((_req, res) => res.end(body));
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  t.teardown(() => new Promise<void>((ok) => s.close(() => ok())));
  return (s.address() as AddressInfo).port;
};
const get = (port: number) => new Promise<string>((resolve) => {
  const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => resolve(body));
  });
  req.on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
  req.end();
});

t.test('the proxy sends each new connection to the slot slots.json names', async (t) => {
  const appDir = tempDir(t, 'upshift-proxy-');
  mkdirSync(appDir, { recursive: true });
  const [blue, green] = [await answering(t, 'blue'), await answering(t, 'green')];
  const proxy = new SlotProxy(appDir, '127.0.0.1:0');
  await proxy.start();
  t.teardown(() => proxy.stop());

  t.match(await get(proxy.port()), /^error /, 'no slot serves yet: the connection is closed');
  writeSlots(appDir, { active: { slot: 'blue', port: blue, release: 'v1-aaaaaaaaaaaa' }, retiring: null });
  t.equal(await get(proxy.port()), 'blue');
  writeSlots(appDir, { active: { slot: 'green', port: green, release: 'v2-bbbbbbbbbbbb' }, retiring: { slot: 'blue', port: blue, release: 'v1-aaaaaaaaaaaa', until: 0 } });
  t.equal(await get(proxy.port()), 'green', 'the flip takes effect at the next connection');

  writeFileSync(join(appDir, 'slots.json'), '{ not json');
  t.throws(() => readSlots(appDir), { code: 'E_WORKTREE', message: /slots\.json is not a slot state/ }, 'a bad file fails closed');
  t.equal(await get(proxy.port()), 'green', 'a bad file does not take traffic from the slot serving');
  writeFileSync(join(appDir, 'slots.json'), JSON.stringify({ active: { slot: 'blue', port: blue, release: '../../etc' }, retiring: null }));
  t.throws(() => readSlots(appDir), { code: 'E_WORKTREE' }, 'a release that is not a directory name is refused');
  t.equal(await get(proxy.port()), 'green');
});
