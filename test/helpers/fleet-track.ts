// The testnet track of a loopback fleet as its nodes report it (GET /v1/status), and a
// release taken through the authority's own poll: what the fleet test files wait on.
import type { Test } from 'tap';
import type { Daemon, LoopbackFleet } from '../../scripts/demo/fleet.js';
import type { SampleKnobs } from '../../scripts/demo/sample-app.js';
import { waitForRun } from '../../scripts/demo/watch.js';
import type { Store } from '../../src/adapters/sqlite/store.js';
import { poll, WAIT } from './timeouts.js';

export interface TrackStatus {
  manifest: { seq: number; version: string } | null;
  running: { seq: number; version: string } | null;
  last_apply: { seq: number; version: string; state: string; reason: string | null } | null;
}

export async function trackStatus(d: Daemon): Promise<TrackStatus> {
  const body = (await (await fetch(`${d.url}/v1/status`)).json()) as { tracks: Record<string, TrackStatus> };
  return body.tracks.testnet as TrackStatus;
}

/** Poll until every node satisfies `ok` (or WAIT.gossip passes); returns the last statuses. */
export async function eventually(nodes: Daemon[], ok: (s: TrackStatus) => boolean): Promise<TrackStatus[]> {
  return poll(() => Promise.all(nodes.map(trackStatus)), (all) => all.every(ok), WAIT.gossip);
}

/** The node runs `commit`, its apply confirmed. */
export const runs = (commit: string) => (s: TrackStatus) => s.running?.version === commit && s.last_apply?.state === 'confirmed';

/** Commit a sample app version and wait for the authority's run of it to end. */
export async function release(fleet: LoopbackFleet, store: Store, knobs: SampleKnobs) {
  const commit = fleet.commit(knobs);
  const run = await waitForRun(store, 'testnet', commit, { timeoutMs: WAIT.run });
  const results = await store.stageResults(run.id);
  return { commit, run, stage: (name: string) => results.find((r) => r.stage === name) };
}

/** A release that must complete and reach every node, asserted on `t`: the release. */
export async function releaseToAll(t: Test, fleet: LoopbackFleet, store: Store, knobs: SampleKnobs) {
  const r = await release(fleet, store, knobs);
  t.equal(r.run.status, 'completed', r.run.reason ?? '');
  const all = await eventually(fleet.nodes, runs(r.commit));
  t.ok(all.every(runs(r.commit)), `every node runs ${knobs.version}`, { all });
  return r;
}
