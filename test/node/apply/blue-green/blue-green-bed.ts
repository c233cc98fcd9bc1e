// A blue-green test bed on top of applyBed: a sample HTTP app (its release answers its
// version on / and /healthz from health.txt) that the restart command starts in a slot on
// UPSHIFT_PORT, a stop command, the daemon's TCP proxy in front, and a client that sends a
// steady stream of requests (a new connection each) and counts every answer.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { MANIFEST_SCHEMA_V2 } from '../../../../src/core/manifest.js';
import { SlotProxy } from '../../../../src/node/traffic/proxy.js';
import { tempDir } from '../../../helpers/tmp.js';
import { freePort } from '../../../../scripts/demo/ports.js';
import { applyBed, type Bed, type Release } from '../apply-child.js';

// The app: answers its version on /, and /healthz from health.txt; stops on SIGTERM once its requests end.
const SERVER = `import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
const read = (f) => readFileSync(new URL(f, import.meta.url), 'utf8').trim();
const version = read('./app.txt');
const healthy = read('./health.txt') === 'ok';
const server = createServer((req, res) => {
  res.setHeader('connection', 'close');
  if (req.url === '/healthz') { res.statusCode = healthy ? 200 : 500; res.end(healthy ? 'ok' : 'failing'); return; }
  res.end(version);
});
server.listen(Number(process.env.UPSHIFT_PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

export interface BlueGreenBed {
  bed: Bed;
  proxy: SlotProxy;
  ports: { listen: number; blue: number; green: number };
  /** The pid the restart command recorded for a slot. */
  pid(slot: 'blue' | 'green'): number;
  log(name: 'starts' | 'stops'): string[];
  release(version: string, healthy?: boolean): Promise<Release>;
}

export async function blueGreenBed(t: { teardown(fn: () => void | Promise<void>): void }, drain = '1s'): Promise<BlueGreenBed> {
  const [listen, blue, green] = [await freePort(), await freePort(), await freePort()];
  const run = tempDir(t, 'upshift-bg-');
  const pidf = `${run}/slot-$UPSHIFT_SLOT.pid`;
  const restart = `[ -f "${pidf}" ] && kill "$(cat "${pidf}")" 2>/dev/null; `
    + `echo "$UPSHIFT_REASON $UPSHIFT_RELEASE $UPSHIFT_SLOT $UPSHIFT_PORT" >> ${run}/starts.log; `
    + `cd "$UPSHIFT_RELEASE_DIR" && { node server.mjs >>"${run}/$UPSHIFT_SLOT.log" 2>&1 </dev/null & echo $! > "${pidf}"; }`;
  const stop = `echo "$UPSHIFT_REASON $UPSHIFT_RELEASE $UPSHIFT_SLOT $UPSHIFT_PORT" >> ${run}/stops.log; kill "$(cat "${pidf}")"`;
  const bed = await applyBed(t, {
    app: {
      install: null, migrate: null, restart,
      health: { url: `http://127.0.0.1:${listen}/healthz`, timeout: '1s', interval: '50ms' },
      blue_green: { listen: `127.0.0.1:${listen}`, ports: [blue, green], drain, stop },
    },
  });
  // whatever a test left running in a slot
  t.teardown(() => {
    for (const f of readdirSync(run).filter((n) => n.endsWith('.pid'))) {
      try {
        process.kill(Number(readFileSync(join(run, f), 'utf8')), 'SIGKILL');
      } catch { /* gone */ }
    }
  });
  const proxy = new SlotProxy(bed.appDir, `127.0.0.1:${listen}`);
  await proxy.start();
  t.teardown(() => proxy.stop());
  const lines = (f: string) => (existsSync(join(run, f)) ? readFileSync(join(run, f), 'utf8').split('\n').filter(Boolean) : []);
  return {
    bed, proxy, ports: { listen, blue, green },
    pid: (slot) => Number(readFileSync(join(run, `slot-${slot}.pid`), 'utf8')),
    log: (name) => lines(`${name}.log`),
    release: (version, healthy = true) => bed.release(version, { healthy, files: { 'server.mjs': SERVER } }),
  };
}

/** One GET on a new connection: the body, or the error that lost it. */
export function get(port: number, path = '/'): Promise<{ ok: true; body: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? { ok: true, body } : { ok: false, error: `HTTP ${res.statusCode}` }));
      res.on('error', (err) => resolve({ ok: false, error: err.message }));
    });
    req.on('error', (err) => resolve({ ok: false, error: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.end();
  });
}

/** A steady stream of requests from `workers` clients until stopped; counts every answer. */
export function traffic(port: number, workers = 4, path = '/') {
  const seen = new Map<string, number>();
  const errors: string[] = [];
  let sent = 0;
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      sent += 1;
      const r = await get(port, path);
      if (r.ok) seen.set(r.body, (seen.get(r.body) ?? 0) + 1);
      else errors.push(r.error);
    }
  });
  return {
    seen, errors, sent: () => sent,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

export const bgManifest = (bed: Bed, r: Release, seq: number) => bed.manifest(r, seq, {
  schema: MANIFEST_SCHEMA_V2,
  rollout: {
    key: 'testnet', deployment: 'dep-1', number: 1, strategy: 'blue_green', phase: 'complete', wave: 0,
    canaries: [], healthy_deadline: 1500, min_healthy: 300, urgent: false,
  },
});
