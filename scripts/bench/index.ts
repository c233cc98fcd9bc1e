// `npm run bench [name...]`: runs the registered benchmarks (all, or those named) and prints
// one JSON document on stdout; progress goes to stderr. A missed target is a result, not a
// failure: the exit code is non-zero only when a benchmark crashes or a name is unknown.
import { availableParallelism, cpus, platform, arch } from 'node:os';
import { benchCodeHash } from './codehash.js';
import { benchFailover } from './failover.js';
import { benchFleet } from './fleet.js';
import { benchFootprint } from './footprint.js';
import { benchCliStart } from './cli-start.js';
import { benchReattest } from './reattest.js';
import { benchGossipFlood } from './gossip-flood.js';
import { benchGossip } from './gossip-sim.js';
import { benchHeartbeatIngest } from './heartbeat-ingest.js';
import { benchOverhead } from './overhead.js';
import { progress } from './util.js';

export interface Benchmark {
  name: string;
  run: () => Promise<object>;
}

/** Add benchmarks here; the name is what argv selects and what the result reports. */
export const BENCHMARKS: readonly Benchmark[] = [
  { name: 'code_hash_20k', run: () => benchCodeHash({ files: 20_000 }) },
  { name: 'orchestration_overhead', run: () => benchOverhead({ runs: 5 }) },
  { name: 'gossip_sim', run: () => benchGossip({ sizes: [1000, 10_000], losses: [0.01, 0.1], seeds: 20 }) },
  // /healthz latency while /v1/gossip is flooded with unauthenticated junk (issue 8, item 6)
  { name: 'gossip_flood', run: () => benchGossipFlood({ seconds: 3, inFlight: 6 }) },
  { name: 'fleet_loopback', run: () => benchFleet({ name: 'fleet_loopback', nodes: 20, singleRuns: 3, peers: 100 }) },
  // the same questions on a quiet machine: 20 daemons and their apps share 2 cores above
  // idle CPU and RSS at the default intervals, against a bare node in the same window (issue 9)
  { name: 'footprint_idle', run: () => benchFootprint({ nodes: 3, peers: 100, windowS: 60 }) },
  {
    name: 'reattest_cached',
    run: () => benchReattest([{ files: 10_000, minBytes: 1024, maxBytes: 8192 }, { files: 1000, minBytes: 32_768, maxBytes: 262_144 }]),
  },
  { name: 'cli_start', run: () => benchCliStart({ runs: 9 }) },
  // replicas on a real PostgreSQL: leaderless time after kill -9 or a stall, fenced write cost (issue 13)
  { name: 'authority_failover', run: () => benchFailover({ rounds: 6, stallMs: 3000, writes: 400 }) },
  // 10,000 simulated nodes over NATS into the authority's ingest, against noble and HTTP (issue 13)
  {
    name: 'heartbeat_ingest',
    run: () => benchHeartbeatIngest({ nodes: 10_000, everyMs: 5000, windowS: 20, senders: 2, connsPerSender: 10, httpNodes: 1000, maxPerSecond: 2000, consumer: 'jetstream', compareNodes: 2000 }),
  },
  { name: 'fleet_loopback_2', run: () => benchFleet({ name: 'fleet_loopback_2', nodes: 2, singleRuns: 5, peers: 100 }) },
];

async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((a) => !BENCHMARKS.some((b) => b.name === a));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`);
    return 2;
  }
  const selected = argv.length === 0 ? BENCHMARKS : BENCHMARKS.filter((b) => argv.includes(b.name));
  const results: object[] = [];
  let crashed = false;
  for (const bench of selected) {
    progress(`${bench.name}: start`);
    try {
      results.push(await bench.run());
    } catch (err) {
      // Keep going: one broken benchmark should not hide the others' numbers.
      crashed = true;
      const e = err as Error;
      process.stderr.write(`[bench] ${bench.name} crashed: ${e.stack ?? e.message}\n`);
      results.push({ name: bench.name, error: e.message });
    }
  }
  const report = {
    machine: { node: process.version, cpus: availableParallelism(), cpu_model: cpus()[0]?.model ?? 'unknown', platform: platform(), arch: arch() },
    at: new Date().toISOString(),
    results,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return crashed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
