// A real loopback fleet (scripts/demo/fleet.ts): an authority and N node daemons as child
// processes. Three questions, from the issue:
// 1. publish → every node confirmed, against the slowest single apply of the same round
//    (the gossip's and the fleet's share of the time; target ≤ 2×);
// 2. one node's apply, alone, against a plain `git fetch && git checkout && restart`
//    script that waits for /healthz (upshift's share of one apply; target ≤ 1.2×);
// 3. idle daemon RSS, and with 100 known peers.
// Releases are signed here and stored in the authority's store, as `pipeline run` from the
// CLI would: the pipeline's own cost is orchestration_overhead's business, not this one's.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackFleet, sleep, type Daemon } from '../demo/fleet.js';
import { publish, signRelease } from '../demo/direct-release.js';
import { acceptedAt, Journals, PlainScript, rssMbOf, seedUnreachablePeers, type NodeApply } from './fleet-util.js';
import { progress, round1, summarize } from './util.js';

export interface FleetBenchOptions {
  /** What the result is called (one name per fleet size). */
  name: string;
  nodes: number;
  /** Single-node applies (and plain-script upgrades) timed. */
  singleRuns: number;
  /** Known peers for the second RSS reading. */
  peers: number;
}

// The authority's pipeline must not run: releases come from here, on a branch it does not
// track, and its poll (it also polls once at start) is a cron that fires once a year.
const BRANCH = 'bench';
const NEVER = '0 0 1 1 *';
// Probation ends at the first healthy probe; the fleet harness probes every 500 ms, and
// FleetOptions.app cannot change that (it replaces `health`, whose URL is per node).
const APP = { min_healthy: '0s', healthy_deadline: '30s', attest_every: '30s' };
const PROBE_MS = 500;
// The config's default gossip timings rather than the harness's demo speed: what a fleet
// would run, and half the idle CPU, which 20 daemons on a small machine need.
const GOSSIP = { interval: '1s', anti_entropy: '10s', suspect_after: '5s', dead_after: '30s' };
const SETTLE_MS = 8_000;

export async function benchFleet(opts: FleetBenchOptions): Promise<object> {
  const dir = mkdtempSync(join(tmpdir(), 'upshift-bench-fleet-'));
  const fleet = new LoopbackFleet({ dir, nodes: opts.nodes, authority: { poll: NEVER }, app: APP, gossip: GOSSIP });
  const plain = new PlainScript(join(dir, 'plain'), fleet.repoDir, PROBE_MS);
  const eager = new PlainScript(join(dir, 'plain-eager'), fleet.repoDir, 50);
  let journals: Journals | null = null;
  try {
    progress(`${opts.name}: starting an authority and ${opts.nodes} node daemons`);
    const startedAt = Date.now();
    await fleet.start();
    const startupS = round1((Date.now() - startedAt) / 1000);
    execFileSync('git', ['symbolic-ref', 'HEAD', `refs/heads/${BRANCH}`], { cwd: fleet.repoDir });
    const j = (journals = new Journals(fleet.nodes));
    const everyone = fleet.nodes.map((n) => n.id);
    let seq = 0;
    const release = async (targets: string[] | 'all') => {
      seq++;
      const commit = fleet.commit({ version: `v${seq}`, latencyMs: 10 });
      const envelope = await signRelease(fleet, seq, commit, targets);
      const storedAt = Date.now();
      publish(fleet.authority, envelope);
      const applies = await j.waitFor(targets === 'all' ? everyone : targets, seq, 120_000);
      return { seq, commit, storedAt, applies };
    };

    // Warm-up: every node gets a running app, so the measured round is an upgrade.
    progress(`${opts.name}: started in ${startupS} s; warm-up release to all nodes`);
    await release('all');
    progress('fleet_loopback: measured release to all nodes');
    const round = await release('all');
    const published = acceptedAt(fleet.authority, round.seq);
    const lastConfirmed = Math.max(...round.applies.map((a) => a.apply.finishedAt as number));
    const durations = round.applies.map(duration);
    const slowest = Math.max(...durations);
    const toAll = lastConfirmed - published;

    // One node alone, then the plain script, alternating; the rest of the fleet idles.
    progress(`${opts.name}: ${opts.singleRuns} single-node applies against the plain script`);
    await plain.start(BRANCH);
    await eager.start(BRANCH);
    const single: NodeApply[] = [];
    const plainMs: number[] = [];
    const eagerMs: number[] = [];
    const one = fleet.nodes[0] as Daemon;
    for (let i = 0; i < opts.singleRuns; i++) {
      const r = await release([one.id]);
      single.push(r.applies[0] as NodeApply);
      plainMs.push(await plain.upgrade(r.commit));
      eagerMs.push(await eager.upgrade(r.commit));
    }
    const singleMs = summarize(single.map(duration));
    const plainSummary = summarize(plainMs);
    journals.close();
    journals = null;

    progress('fleet_loopback: idle RSS');
    await sleep(SETTLE_MS / 2);
    const idle = summarize(fleet.nodes.map((n) => rssMbOf(pidOf(n))));
    const authorityRss = rssMbOf(pidOf(fleet.authority));
    // Two nodes restarted side by side, one with its peer table filled to opts.peers.
    const [plainNode, crowded] = fleet.nodes.slice(-2) as [Daemon, Daemon];
    await Promise.all([fleet.stopDaemon(plainNode), fleet.stopDaemon(crowded)]);
    const seeded = await seedUnreachablePeers(crowded, opts.peers);
    progress(`${opts.name}: RSS after restart, ${seeded.reachable} peers vs ${opts.peers} (${seeded.unreachable} unreachable)`);
    await Promise.all([fleet.startDaemon(plainNode), fleet.startDaemon(crowded)]);
    await sleep(SETTLE_MS);
    const restarted = { plain: await sampleRss(plainNode), crowded: await sampleRss(crowded) };

    return {
      name: opts.name,
      nodes: opts.nodes,
      startup_s: startupS,
      fleet_release: {
        publish_to_all_confirmed_ms: toAll,
        store_write_to_all_confirmed_ms: lastConfirmed - round.storedAt,
        last_apply_started_ms: Math.max(...round.applies.map((a) => a.apply.startedAt)) - published,
        apply_ms: summarize(durations),
        slowest_apply_ms: slowest,
        ratio: round1(toAll / slowest),
        target_ratio: 2,
        meets_target: toAll <= 2 * slowest,
      },
      single_node_apply: {
        runs: opts.singleRuns,
        apply_ms: singleMs,
        phases_ms_median: {
          fetch_and_hash: phase(single, 'verified', 'staged'),
          switch_and_restart: phase(single, 'staged', 'probation'),
          probation: phase(single, 'probation', 'confirmed'),
        },
        plain_script_ms: plainSummary,
        plain_script_probe_50ms_ms: summarize(eagerMs),
        ratio: round1(singleMs.median / plainSummary.median),
        target_ratio: 1.2,
        meets_target: singleMs.median <= 1.2 * plainSummary.median,
      },
      rss_mb: {
        idle_nodes: idle,
        idle_authority: authorityRss,
        [`restarted_${seeded.reachable}_peers`]: restarted.plain,
        [`restarted_${opts.peers}_peers`]: restarted.crowded,
      },
      note:
        `Daemons gossip every 1 s (anti-entropy 10 s, the config defaults); apps are probed every ${PROBE_MS} ms and confirmed at the first healthy answer (min_healthy 0s). ` +
        'fleet_release: one upgrade of every node (after a warm-up release); publish = the authority daemon logs the manifest accepted (store_write_ includes up to one gossip round before that); ' +
        `apply_ms = journal finished_at - started_at per node: fetch into a fresh release dir, code hash, switch, restart, probation, all ${opts.nodes} at once on this machine. ` +
        'single_node_apply: a manifest targeting node-1 only, while the fleet idles; the plain script runs in an existing clone: git fetch <source> <commit> && git checkout && app-ctl restart, then /healthz ' +
        `probed every ${PROBE_MS} ms like the node (plain_script_probe_50ms_ms: a second clone probing every 50 ms, for reference). ` +
        `rss_mb: VmRSS after ${SETTLE_MS / 2000} s idle (nodes know the authority and the other nodes); the restarted pair is two nodes restarted together and read ${SETTLE_MS / 1000} s later ` +
        `(median of 3 readings), one with its peer table filled with peers at 127.0.0.1 ports that refuse connections (suspect by the reading, kept in the table; dead after 30 s).`,
    };
  } finally {
    journals?.close();
    await fleet.stop();
    plain.stop();
    eager.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function duration(a: NodeApply): number {
  return (a.apply.finishedAt as number) - a.apply.startedAt;
}

function phase(applies: readonly NodeApply[], from: string, to: string): number {
  return summarize(applies.map((a) => (a.at[to] ?? NaN) - (a.at[from] ?? NaN))).median;
}

function pidOf(d: Daemon): number {
  if (!d.child?.pid) throw new Error(`daemon ${d.id} is not running`);
  return d.child.pid;
}

async function sampleRss(d: Daemon): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(1000);
    samples.push(rssMbOf(pidOf(d)));
  }
  return summarize(samples).median;
}
