// The NATS fleet channel with real daemons and a real nats-server (issue 13, "A NATS channel"
// and "Fallback to gossip"): an authority and two nodes, in order:
//   1. the nodes gossip with nobody (no seeds): v1 reaches them over NATS alone, and the
//      authority hears them there (`fleet ls` channel nats);
//   2. NATS stopped; the nodes restart with the authority as their seed while it is down:
//      v2 reaches every node by gossip, their heartbeats arrive by gossip report (channel gossip);
//   3. NATS back on the same port: the nodes return to it (channel nats).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { LoopbackFleet, type Daemon } from '../../../scripts/demo/fleet.js';
import type { SampleKnobs } from '../../../scripts/demo/sample-app.js';
import { waitForRun } from '../../../scripts/demo/watch.js';
import { openStore } from '../../../src/runtime/deps.js';
import { CLI_PATH } from '../../helpers/cli.js';
import { startNats } from '../../helpers/nats.js';
import { poll, WAIT } from '../../helpers/timeouts.js';

const nats = await startNats(t);
const dir = mkdtempSync(join(tmpdir(), 'upshift-nats-fleet-'));
const fleet = new LoopbackFleet({
  dir,
  nodes: 2,
  cliPath: CLI_PATH,
  waits: WAIT,
  channel: { kind: 'nats', servers: [nats.url] },
  // step 1: nobody is seeded, so nothing travels by gossip between the daemons
  gossip: { seeds: [] },
  // v2 goes through a canary; how long it soaks is not what this file is about
  authority: { canary: { fraction: 0.25, soak: '2s', check_every: '500ms', heartbeat_timeout: '10s', labels: ['region'] } },
});
await fleet.start();
const store = openStore(fleet.authority.stateDir);
t.teardown(async () => {
  store.close();
  await fleet.stop();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface TrackStatus { running: { version: string } | null; last_apply: { state: string } | null }
interface FleetNode { node: string; channel: string | null; silent: boolean }

async function status(d: Daemon): Promise<TrackStatus> {
  const body = (await (await fetch(`${d.url}/v1/status`)).json()) as { tracks: Record<string, TrackStatus> };
  return body.tracks.testnet as TrackStatus;
}

const runs = (commit: string) => (s: TrackStatus) => s.running?.version === commit && s.last_apply?.state === 'confirmed';

async function release(knobs: SampleKnobs): Promise<{ commit: string; status: string; reason: string | null }> {
  const commit = fleet.commit(knobs);
  const run = await waitForRun(store, 'testnet', commit, { timeoutMs: WAIT.run });
  return { commit, status: run.status, reason: run.reason };
}

/**
 * The two nodes as `fleet ls --json` on the authority shows them, once `ok` holds (or WAIT.gossip
 * passed). The authority's store is watched first for the channel it last heard each node on: a
 * CLI process per poll would cost more than the wait.
 */
async function nodesUntil(channel: string, ok: (n: FleetNode) => boolean): Promise<FleetNode[]> {
  await poll(() => store.fleet.nodes(), (ns) => ['node-1', 'node-2'].every((id) => ns.find((n) => n.node === id)?.channel === channel), WAIT.gossip);
  const read = async () => {
    const out = JSON.parse(await fleet.run(fleet.authority, ['fleet', 'ls', '--json'])) as { nodes: FleetNode[] };
    return out.nodes.filter((n) => n.node !== 'authority');
  };
  return poll(read, (ns) => ns.length === 2 && ns.every(ok), WAIT.gossip, 500);
}

async function metric(d: Daemon, name: string): Promise<string[]> {
  const text = await (await fetch(`${d.url}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name));
}

t.test('with no gossip peers, a release reaches every node over NATS and they are heard there', async (t) => {
  const v1 = await release({ version: 'v1', latencyMs: 10 });
  t.equal(v1.status, 'completed', v1.reason ?? '');
  const all = await poll(() => Promise.all(fleet.nodes.map(status)), (ss) => ss.every(runs(v1.commit)), WAIT.gossip);
  t.ok(all.every(runs(v1.commit)), 'both nodes run v1', { all });
  const nodes = await nodesUntil('nats', (n) => n.channel === 'nats' && !n.silent);
  t.same(nodes.map((n) => [n.node, n.channel, n.silent]), [['node-1', 'nats', false], ['node-2', 'nats', false]]);
  const frames = await metric(fleet.nodes[0] as Daemon, 'upshift_nats_frames_total{kind="manifest"');
  t.ok(frames.length > 0, 'the node took manifests from NATS', { frames });
  for (const node of fleet.nodes) {
    const viaGossip = await metric(node, 'upshift_gossip_manifests_total{result="accepted"');
    t.ok(viaGossip.every((l) => l.endsWith(' 0')), `${node.id} took no manifest by gossip`, { viaGossip });
  }
});

t.test('NATS down, nodes restarted while it is down: a release still reaches every node by gossip', async (t) => {
  await nats.stop();
  await Promise.all(fleet.nodes.map(async (node) => {
    const config = parse(readFileSync(node.configPath, 'utf8')) as { gossip: { seeds: string[] } };
    config.gossip.seeds = [fleet.authority.url];
    writeFileSync(node.configPath, stringify(config));
    await fleet.stopDaemon(node);
    await fleet.startDaemon(node); // starts although the NATS server is not running
  }));
  const onGossip = await nodesUntil('gossip', (n) => n.channel === 'gossip' && !n.silent);
  t.same(onGossip.map((n) => [n.channel, n.silent]), [['gossip', false], ['gossip', false]], 'heartbeats arrive by gossip report');
  const v2 = await release({ version: 'v2', latencyMs: 9 });
  t.equal(v2.status, 'completed', v2.reason ?? '');
  const all = await poll(() => Promise.all(fleet.nodes.map(status)), (ss) => ss.every(runs(v2.commit)), WAIT.gossip);
  t.ok(all.every(runs(v2.commit)), 'both nodes run v2', { all });
  const fallback = await metric(fleet.nodes[0] as Daemon, 'upshift_nats_heartbeats_total{channel="gossip"');
  t.ok(fallback.some((l) => !l.endsWith(' 0')), 'the node left its heartbeats to gossip', { fallback });
});

t.test('NATS back: the nodes return to it', async (t) => {
  await nats.restart();
  const nodes = await nodesUntil('nats', (n) => n.channel === 'nats' && !n.silent);
  t.same(nodes.map((n) => [n.node, n.channel]), [['node-1', 'nats'], ['node-2', 'nats']]);
  const gauge = await metric(fleet.authority, 'upshift_node_channel{');
  for (const id of ['node-1', 'node-2']) {
    t.ok(gauge.some((l) => l.includes(`peer="${id}"`) && l.includes('channel="nats"')), `/metrics: ${id} on nats`, { gauge });
  }
});
