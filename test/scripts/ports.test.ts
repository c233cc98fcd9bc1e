import t from 'tap';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort, type PortRange } from '../../scripts/demo/ports.js';
import { spawnChild } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';

const portsModule = pathToFileURL(join(import.meta.dirname, '..', '..', 'scripts', 'demo', 'ports.js')).href;

/** A child process that reserves `count` ports of `range`, prints them, and stays until killed. */
async function holder(t: Tap.Test, range: PortRange, count: number) {
  const code = `const { freePort } = await import(${JSON.stringify(portsModule)});
    const range = ${JSON.stringify(range)};
    const ports = [];
    for (let i = 0; i < ${count}; i++) ports.push(await freePort(range));
    console.log(JSON.stringify(ports));
    setInterval(() => {}, 1000);`;
  const child = spawnChild(t, process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout!, 'data') as [Buffer];
  return { child, ports: JSON.parse(line.toString()) as number[] };
}

// a small range well below the ephemeral ports, so the test sees every port of it
const range = (t: Tap.Test): PortRange => {
  const low = 21_000 + Math.floor(Math.random() * 5_000);
  return { dir: tempDir(t, 'upshift-ports-'), low, high: low + 3 };
};

t.test('a port another live process reserved is not handed out; a dead one\'s is reclaimed', async (t) => {
  const r = range(t);
  const { child, ports } = await holder(t, r, 2);
  t.equal(readFileSync(join(r.dir, String(ports[0])), 'utf8'), String(child.pid), 'the reservation names its holder');
  const mine = await freePort(r);
  t.notOk(ports.includes(mine), 'the third port of the range');
  await t.rejects(freePort(r), /no free loopback port/, 'the range is used up');
  child.kill('SIGKILL');
  await once(child, 'exit');
  const reclaimed = await freePort(r);
  t.ok(ports.includes(reclaimed), 'a port of the killed holder');
  t.equal(readFileSync(join(r.dir, String(reclaimed)), 'utf8'), String(process.pid));
});

t.test('a port some process listens on is skipped, and its reservation not kept', async (t) => {
  const r = range(t);
  const servers = await Promise.all([r.low, r.low + 1].map(async (port) => {
    const s = createServer();
    await new Promise<void>((ok, fail) => { s.once('error', fail); s.listen(port, '127.0.0.1', ok); });
    return s;
  }));
  t.teardown(() => servers.forEach((s) => s.close()));
  t.equal(await freePort(r), r.low + 2);
  t.notOk(existsSync(join(r.dir, String(r.low))), 'no reservation left for a busy port');
});

t.test('reservations end with the process that made them', async (t) => {
  const r = range(t);
  const code = `const { freePort } = await import(${JSON.stringify(portsModule)}); console.log(await freePort(${JSON.stringify(r)}));`;
  const child = spawnChild(t, process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout!, 'data') as [Buffer];
  await once(child, 'exit');
  t.notOk(existsSync(join(r.dir, line.toString().trim())));
});
