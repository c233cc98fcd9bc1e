// heartbeat_ingest (issue 13 "Performance"): N simulated nodes, each sending a freshly signed
// heartbeat frame every 5 s over real NATS connections (several nodes multiplexed on each) to
// a real nats-server, followed by the authority's real ingest (verify with the cached
// KeyObject, replay check, latest per node in memory, SQLite writes as due). Reports the
// authority's CPU µs per heartbeat ingested, one cached node:crypto verify and one strict noble
// verify measured in the same process and run, their ratio, the noble path (the same ingest
// with its verify swapped for noble's, by substitution of the two measured verifies), the HTTP
// gossip path measured the same way, and what 100,000 nodes cost with the adaptive interval.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { heartbeatPlan } from '../../src/core/decisions/heartbeat-interval.js';
import { progress } from './util.js';

export interface HeartbeatIngestOptions {
  nodes: number;
  everyMs: number;
  windowS: number;
  senders: number;
  connsPerSender: number;
  httpNodes: number;
  maxPerSecond: number;
  /**
   * How the authority reads frames: `jetstream` through NatsChannel.follow (the channel's
   * ordered consumer, what the daemon uses), `core` on a plain subscription.
   */
  consumer: 'jetstream' | 'core';
  /** Also measure this many nodes with the other consumer (0: skip). */
  compareNodes: number;
}

const CHILD = join(fileURLToPath(new URL('.', import.meta.url)), 'heartbeat-ingest-child.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r1 = (n: number) => Math.round(n * 10) / 10;
const r3 = (n: number) => Math.round(n * 1000) / 1000;

/** A child and a way to ask it something over IPC. */
function child(env: Record<string, string>): { proc: ChildProcess; ready: Promise<Record<string, unknown>>; ask: (op: object) => Promise<Record<string, unknown>> } {
  const proc = fork(CHILD, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const queue: Array<(m: Record<string, unknown>) => void> = [];
  let first: ((m: Record<string, unknown>) => void) | null = null;
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    first = resolve;
    proc.once('exit', (code) => reject(new Error(`${env.HB_ROLE} exited with ${code}`)));
  });
  proc.on('message', (m: Record<string, unknown>) => {
    if (first) {
      const f = first;
      first = null;
      f(m);
      return;
    }
    queue.shift()?.(m);
  });
  const ask = (op: object) => new Promise<Record<string, unknown>>((resolve) => {
    queue.push(resolve);
    proc.send(op);
  });
  return { proc, ready, ask };
}

async function startNats(dir: string): Promise<{ url: string; stop: () => void }> {
  const ports = join(dir, 'ports');
  mkdirSync(ports, { recursive: true });
  const server = spawn('nats-server', ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', join(dir, 'js'), '--ports_file_dir', ports], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const file = existsSync(ports) ? readdirSync(ports).find((f) => f.endsWith('.ports')) : undefined;
    if (file) {
      const url = (JSON.parse(readFileSync(join(ports, file), 'utf8')) as { nats: string[] }).nats[0] as string;
      return { url, stop: () => void server.kill('SIGKILL') };
    }
    await sleep(50);
  }
  server.kill('SIGKILL');
  throw new Error('nats-server did not start');
}

/** Wait until the authority has ingested `target` heartbeats (every node heard once), then a window. */
async function measure(auth: ReturnType<typeof child>, target: number, windowS: number, label: string) {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const { count } = await auth.ask({ op: 'count' });
    if ((count as number) >= target) break;
    if (Date.now() > deadline) throw new Error(`${label}: only ${String(count)} of ${target} heartbeats arrived in 10 min`);
    progress(`${label}: warming up, ${String(count)}/${target} ingested (first sight of each node checks its certificate)`);
    await sleep(5000);
  }
  await sleep(5000); // the backlog of the first round drains
  await auth.ask({ op: 'mark' });
  await sleep(windowS * 1000);
  const m = await auth.ask({ op: 'mark' }) as { cpu_us: number; count: number; wall_ms: number; transactions: number; nodes: number };
  return { ...m, us_per_hb: m.cpu_us / Math.max(1, m.count), rate: m.count / (m.wall_ms / 1000), cores: m.cpu_us / (m.wall_ms * 1000) };
}

/** One NATS measurement: an authority child reading with `consumer`, sender children for `nodes`. */
async function natsRun(o: HeartbeatIngestOptions, nodes: number, consumer: 'core' | 'jetstream', url: string, dir: string, procs: ChildProcess[]) {
  const auth = child({ HB_ROLE: 'authority', HB_DIR: dir, HB_NATS: url, ...(consumer === 'core' ? { HB_CORE: '1' } : {}) });
  procs.push(auth.proc);
  await auth.ready;
  const per = Math.ceil(nodes / o.senders);
  const sends = Array.from({ length: o.senders }, (_, s) => child({
    HB_ROLE: 'senders', HB_NATS: url, HB_FROM: String(s * per), HB_TO: String(Math.min(nodes, (s + 1) * per)),
    HB_EVERY_MS: String(o.everyMs), HB_CONNS: String(o.connsPerSender),
  }));
  procs.push(...sends.map((s) => s.proc));
  progress(`heartbeat_ingest: issuing ${nodes} node certificates in ${o.senders} sender processes`);
  await Promise.all(sends.map((s) => s.ready));
  const m = await measure(auth, nodes, o.windowS, `heartbeat_ingest nats ${consumer}`);
  const verify = await auth.ask({ op: 'verify', runs: 20_000 }) as { fast_verify_us: number; noble_verify_us: number };
  const sent = await Promise.all(sends.map((s) => s.ask({ op: 'count' })));
  const refused = (await auth.ask({ op: 'count' })).refused;
  for (const p of [auth.proc, ...sends.map((s) => s.proc)]) {
    p.kill('SIGTERM');
    procs.splice(procs.indexOf(p), 1);
  }
  return { m, verify, sent, refused };
}

export async function benchHeartbeatIngest(o: HeartbeatIngestOptions): Promise<object> {
  const dir = mkdtempSync(join(tmpdir(), 'upshift-hb-bench-'));
  const nats = await startNats(dir);
  const procs: ChildProcess[] = [];
  try {
    const main = await natsRun(o, o.nodes, o.consumer, nats.url, dir, procs);
    const nats10k = main.m;
    const { verify, sent, refused } = main;
    const other = o.consumer === 'core' ? 'jetstream' : 'core';
    let compared: Awaited<ReturnType<typeof natsRun>>['m'] | null = null;
    if (o.compareNodes > 0) {
      const otherDir = join(dir, 'compare');
      const otherNats = await startNats(otherDir);
      try {
        compared = (await natsRun(o, o.compareNodes, other, otherNats.url, otherDir, procs)).m;
      } finally {
        otherNats.stop();
      }
    }

    const http = child({ HB_ROLE: 'http', HB_DIR: dir });
    procs.push(http.proc);
    const { url } = await http.ready as { url: string };
    const httpSend = child({ HB_ROLE: 'senders', HB_HTTP: url, HB_FROM: '0', HB_TO: String(o.httpNodes), HB_EVERY_MS: String(o.everyMs), HB_CONNS: '0' });
    procs.push(httpSend.proc);
    await httpSend.ready;
    const viaHttp = await measure(http, o.httpNodes, o.windowS, 'heartbeat_ingest http');

    const usPerHb = nats10k.us_per_hb;
    const noblePath = usPerHb - verify.fast_verify_us + verify.noble_verify_us;
    // 1% of the fleet (canaries, their control sample, nodes applying) assumed pinned at the base interval
    const plan100k = heartbeatPlan({ nodes: 100_000, pinned: 1000, baseMs: o.everyMs, maxPerSecond: o.maxPerSecond });
    const pinned = plan100k.pinnedMax;
    const rate100k = plan100k.perSecond;
    return {
      name: 'heartbeat_ingest',
      nodes: o.nodes,
      interval_s: o.everyMs / 1000,
      consumer: o.consumer === 'jetstream'
        ? 'NatsChannel.follow: an ordered JetStream consumer on the stream keeping the newest per node'
        : 'a plain NATS subscription to upshift.<fleet>.hb.*',
      transport: `${o.senders * o.connsPerSender} NATS connections from ${o.senders} sender processes, ${Math.ceil(o.nodes / (o.senders * o.connsPerSender))} simulated nodes multiplexed per connection; JetStream stream keeping the newest per node`,
      offered_per_s: r1(o.nodes / (o.everyMs / 1000)),
      ingested_per_s: r1(nats10k.rate),
      // below the offered rate the machine (senders, nats-server and the authority on the same cores) is saturated
      kept_up: nats10k.rate >= 0.95 * (o.nodes / (o.everyMs / 1000)),
      sent: sent.map((s) => s), refused,
      window_s: r1(nats10k.wall_ms / 1000),
      cpu_us_per_heartbeat: r1(usPerHb),
      authority_cores: r3(nats10k.cores),
      authority_cores_at_offered_rate: r3((usPerHb * o.nodes) / (o.everyMs / 1000) / 1e6),
      store_transactions_in_window: nats10k.transactions,
      fast_verify_us: r1(verify.fast_verify_us),
      ratio_to_fast_verify: r1(usPerHb / verify.fast_verify_us),
      noble_verify_us: r1(verify.noble_verify_us),
      noble_path_us_per_heartbeat: r1(noblePath),
      noble_path_note: 'the ingest measured here with its verify replaced by the strict noble verify measured in the same process',
      speedup_vs_noble: r1(noblePath / usPerHb),
      compared: compared === null ? null : {
        consumer: other, nodes: o.compareNodes, offered_per_s: r1(o.compareNodes / (o.everyMs / 1000)), ingested_per_s: r1(compared.rate),
        cpu_us_per_heartbeat: r1(compared.us_per_hb),
      },
      http_path: {
        nodes: o.httpNodes, ingested_per_s: r1(viaHttp.rate), cpu_us_per_heartbeat: r1(viaHttp.us_per_hb),
        note: 'gossip push over keep-alive HTTP to a real node agent behind fastify, each answered with a signed ack',
      },
      adaptive_100k: {
        nodes: 100_000, max_per_second: o.maxPerSecond, interval_s: plan100k.intervalMs / 1000, pinned_at_base: pinned,
        heartbeats_per_s: r1(rate100k), cores: r3((rate100k * usPerHb) / 1e6),
      },
      targets: { cores_10k: 0.5, ratio: 2.5, speedup_vs_noble: 6, cores_100k: 1 },
    };
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
