// Unauthenticated work under a flood (issue 8, item 6): /healthz latency on a daemon while
// attackers POST /v1/gossip as fast as they can, each attack for a few seconds with several
// requests in flight: a 1.8 MB deeply nested JSON body, a nesting bomb under the request cap,
// junk certificates (each one an Ed25519 check), and a copied real certificate with random
// signatures (each one an Ed25519 check on the message). Run with the per-address limit on
// (the default) and off, to show what each guard buys. The daemon runs in a child process.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { NODE_CERT_PAYLOAD_TYPE } from '../../src/trust/node-cert.js';
import { progress } from './util.js';

interface Target {
  url: string;
  cert: string;
  keyid: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const b64 = (n: number) => randomBytes(n).toString('base64');

function attacks(target: Target): Record<string, (() => string) | null> {
  const nested = (depth: number) => `{"payload":${'['.repeat(depth)}${']'.repeat(depth)},"sig":"","cert":""}`;
  const bomb = nested(900_000);
  const small = nested(30_000);
  const junkCert = () => JSON.stringify({ payloadType: NODE_CERT_PAYLOAD_TYPE, payload: b64(300), signatures: [{ keyid: target.keyid, sig: b64(64) }] });
  return {
    none: null,
    nested_1_8mb: () => bomb,
    nested_60kb_under_cap: () => small,
    junk_certificates: () => JSON.stringify({ payload: '{"from":"member"}', sig: b64(64), cert: junkCert() }),
    copied_certificate: () => JSON.stringify({ payload: `{"from":"member","n":"${b64(8)}"}`, sig: b64(64), cert: target.cert }),
  };
}

function percentile(sorted: number[], p: number): number {
  return Math.round((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN) * 10) / 10;
}

async function flood(target: Target, body: (() => string) | null, opts: { seconds: number; inFlight: number; daemon: ChildProcess }) {
  opts.daemon.send('reset');
  const statuses: Record<string, number> = {};
  let stop = false;
  const attacker = async () => {
    while (!stop && body) {
      try {
        const res = await fetch(`${target.url}/v1/gossip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body() });
        await res.arrayBuffer();
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      } catch {
        statuses.error = (statuses.error ?? 0) + 1;
      }
    }
  };
  const latencies: number[] = [];
  const prober = async () => {
    while (!stop) {
      const start = performance.now();
      await (await fetch(`${target.url}/healthz`)).arrayBuffer();
      latencies.push(performance.now() - start);
      await sleep(25);
    }
  };
  const running = [prober(), ...Array.from({ length: body ? opts.inFlight : 0 }, attacker)];
  await sleep(opts.seconds * 1000);
  stop = true;
  await Promise.all(running);
  const lag = await new Promise((resolve) => {
    opts.daemon.once('message', resolve);
    opts.daemon.send('lag');
  });
  const sorted = latencies.sort((a, b) => a - b);
  const requests = Object.values(statuses).reduce((a, n) => a + n, 0);
  return {
    requests, per_sec: Math.round(requests / opts.seconds), statuses,
    healthz_ms: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: percentile(sorted, 1), samples: sorted.length },
    daemon_event_loop_delay_ms: lag,
  };
}

async function withDaemon<T>(perAddress: number, fn: (target: Target, daemon: ChildProcess) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'upshift-flood-'));
  const child = fork(fileURLToPath(new URL('./gossip-flood-server.js', import.meta.url)), [], { env: { ...process.env, FLOOD_DIR: dir, FLOOD_PER_ADDRESS: String(perAddress) } });
  try {
    const target = await new Promise<Target>((resolve, reject) => {
      child.once('message', (m) => resolve(m as Target));
      child.once('exit', (code) => reject(new Error(`flood daemon exited with ${code}`)));
    });
    return await fn(target, child);
  } finally {
    child.disconnect();
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchGossipFlood(opts: { seconds: number; inFlight: number }): Promise<object> {
  const results: Record<string, Record<string, unknown>> = {};
  for (const [limit, perAddress] of [['per_address_100', 100], ['per_address_off', 1_000_000_000]] as const) {
    results[limit] = await withDaemon(perAddress, async (target, daemon) => {
      const out: Record<string, unknown> = {};
      for (const [name, body] of Object.entries(attacks(target))) {
        progress(`gossip_flood: ${limit} ${name}`);
        out[name] = await flood(target, body, { ...opts, daemon });
      }
      return out;
    });
  }
  return { name: 'gossip_flood', seconds_per_attack: opts.seconds, in_flight: opts.inFlight, results };
}
