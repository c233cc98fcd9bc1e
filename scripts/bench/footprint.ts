// Idle footprint of node daemons at the default intervals (issue 9, "Footprint"): an
// authority and three nodes on loopback, each running the sample app at one release, read
// for CPU and RSS over a window beside a bare idle node; then one node restarted with 100
// known peers and read again. Goals: ≤ 1% of a core and ≤ 70 MB idle; ≤ 2% and ≤ 80 MB
// with 100 peers. The ratios divide by the bare node read in the same window.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackFleet, sleep, type Daemon } from '../demo/fleet.js';
import { publish, signRelease } from '../demo/direct-release.js';
import { Journals, seedUnreachablePeers } from './fleet-util.js';
import { bareIdleNode, bareStartCpuMs, idleReadings, type IdleReading } from './proc.js';
import { progress, round1, summarize } from './util.js';

export interface FootprintOptions {
  nodes: number;
  peers: number;
  /** Length of each idle reading. attest_every defaults to 1 m, so a window of 60 s sees one. */
  windowS: number;
}

const BRANCH = 'bench';
const NEVER = '0 0 1 1 *';
// The config's defaults (core/config.ts), spelled out because the harness speeds them up.
const GOSSIP = { interval: '1s', anti_entropy: '10s', suspect_after: '5s', dead_after: '30s', report_every: '5s' };
const APP = {
  attest_every: '1m', min_healthy: '1s', healthy_deadline: '1m',
  health: { timeout: '2s', interval: '1s' },
};
const SETTLE_MS = 10_000;

export async function benchFootprint(opts: FootprintOptions): Promise<object> {
  const dir = mkdtempSync(join(tmpdir(), 'upshift-bench-footprint-'));
  const fleet = new LoopbackFleet({ dir, nodes: opts.nodes, authority: { poll: NEVER }, app: APP, gossip: GOSSIP });
  const bare = bareIdleNode();
  try {
    progress(`footprint: an authority and ${opts.nodes} nodes at the default intervals`);
    await fleet.start();
    // the metrics window is the harness's 5 s; the default is 30 s (read every probe either way)
    execFileSync('git', ['symbolic-ref', 'HEAD', `refs/heads/${BRANCH}`], { cwd: fleet.repoDir });
    const commit = fleet.commit({ version: 'v1', latencyMs: 10 });
    publish(fleet.authority, await signRelease(fleet, 1, commit, 'all'));
    const journals = new Journals(fleet.nodes);
    try {
      await journals.waitFor(fleet.nodes.map((n) => n.id), 1, 120_000);
    } finally {
      journals.close();
    }
    await sleep(SETTLE_MS);
    progress(`footprint: idle reading over ${opts.windowS} s`);
    const unitMs = bareStartCpuMs(5);
    const fleetPids = [bare.pid, pidOf(fleet.authority), ...fleet.nodes.map(pidOf)];
    const [floor, authority, ...nodes] = await idleReadings(fleetPids, opts.windowS) as [IdleReading, IdleReading, ...IdleReading[]];

    const crowded = fleet.nodes.at(-1) as Daemon;
    await fleet.stopDaemon(crowded);
    const seeded = await seedUnreachablePeers(crowded, opts.peers);
    await fleet.startDaemon(crowded);
    await sleep(SETTLE_MS);
    progress(`footprint: ${opts.peers} known peers (${seeded.unreachable} unreachable), reading over ${opts.windowS} s`);
    const [floor2, withPeers] = await idleReadings([bare.pid, pidOf(crowded)], opts.windowS) as [IdleReading, IdleReading];

    const summary = (rs: IdleReading[], base: IdleReading) => ({
      cpu_pct: hundredths(rs.map((r) => r.cpu_pct)),
      rss_mb: summarize(rs.map((r) => r.rss_mb)),
      rss_ratio_to_bare_node: round1(Math.max(...rs.map((r) => r.rss_mb)) / base.rss_mb),
      bare_starts_per_minute: round1((Math.max(...rs.map((r) => r.cpu_pct)) * 600) / unitMs),
    });
    const idle = summary(nodes, floor);
    const peers = summary([withPeers], floor2);
    return {
      name: 'footprint_idle',
      window_s: opts.windowS,
      bare_node: { idle: floor, idle_second_window: floor2, start_cpu_ms: unitMs },
      idle_nodes: idle,
      idle_authority: authority,
      [`node_with_${opts.peers}_peers`]: peers,
      targets: { idle: { cpu_pct: 1, rss_mb: 70 }, peers: { cpu_pct: 2, rss_mb: 80 } },
      meets_target: idle.cpu_pct.max <= 1 && idle.rss_mb.max <= 70 && peers.cpu_pct.max <= 2 && peers.rss_mb.max <= 80,
      note:
        'Gossip, health probe (1 s), attest_every (1 m) and metrics window at the config defaults; the sample app has metrics. ' +
        'cpu_pct: user+sys of the daemon and its reaped children (git) over the window, % of one core. ' +
        'bare_starts_per_minute: the worst daemon\'s CPU per minute in units of one `node -e 0` start-up measured in this run. ' +
        `The ${opts.peers}-peer node has its peer table filled with 127.0.0.1 ports that refuse connections (suspect, then dead after 30 s).`,
    };
  } finally {
    bare.stop();
    await fleet.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Median, min and max to 0.01 (summarize() rounds to 0.1, too coarse for a 1% target). */
function hundredths(xs: number[]): { median: number; min: number; max: number } {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const r = (n: number) => Math.round(n * 100) / 100;
  return { median: r(median), min: r(sorted[0]!), max: r(sorted.at(-1)!) };
}

function pidOf(d: Daemon): number {
  if (!d.child?.pid) throw new Error(`daemon ${d.id} is not running`);
  return d.child.pid;
}
