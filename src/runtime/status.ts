// What `upshift status` and `GET /v1/status` report: this node, its tracks and floors, and
// the pipeline at a glance. One function so the CLI and HTTP never disagree.
import type { Config } from '../core/config.js';
import type { Store } from '../adapters/sqlite/store.js';
import { NodeTables } from '../adapters/sqlite/node-tables.js';
import type { ManifestPayload } from '../core/manifest.js';
import type { Run } from '../core/run.js';
import { isLive } from '../core/node-state.js';
import { sourceNode, storedHeld, StoreManifestSource } from '../node/agent/manifest-source.js';
import { keysetOf } from '../trust/keyset.js';
import { sourceHealth } from './source-health.js';
import { waitingFor } from './run-wait.js';

/** The verified manifests this node holds for gossip, newest first per track. */
export interface HeldManifests {
  payloads(track: string): ManifestPayload[];
}

/**
 * The held manifests as stored, verified once here: the door for a process without a gossip
 * agent (the CLI). The daemon passes its agent's source, which verified them on arrival.
 */
export function storedManifests(config: Config, store: Store): HeldManifests {
  let source: StoreManifestSource | null = null;
  // verified again only when what is stored changed: a daemon without an agent keeps this
  // view for its life, and /metrics and /v1/status must not verify signatures per request
  let seen = '';
  const node = sourceNode(config);
  const tracks = [...node.tracks, ...(node.relay ?? [])];
  return {
    payloads(track) {
      if (storedHeld(store, track).length === 0) return []; // nothing held: no keyset needed
      const stored = JSON.stringify(tracks.map((t) => storedHeld(store, t)));
      if (stored !== seen) source = null;
      seen = stored;
      source ??= new StoreManifestSource({ store, keyset: keysetOf(config), node, clock: { now: () => Date.now() }, engine: null });
      return source.payloads(track);
    },
  };
}

/** The newest manifest this node holds for gossip on a track. */
export function heldManifest(config: Config, store: Store, track: string, held: HeldManifests = storedManifests(config, store)) {
  const payload = held.payloads(track)[0];
  if (!payload) return null;
  return { seq: payload.seq, version: payload.version, commit: payload.commit, kind: payload.kind, targets: payload.targets };
}

export async function nodeStatus(config: Config, store: Store, extra: { configPath?: string; peers?: number; held?: HeldManifests; now?: number } = {}) {
  const held = extra.held ?? storedManifests(config, store);
  const tables = new NodeTables(store.db);
  const running = new Map(tables.latestConfirmedPerTrack().map((a) => [a.track, a]));
  const last = new Map(tables.latestPerTrack().map((a) => [a.track, a]));
  const tracks = Object.fromEntries(config.node.tracks.map((track) => {
    const r = running.get(track);
    const a = last.get(track);
    const stable = store.lastStable(track);
    const latest = store.listRuns({ track, limit: 1 })[0] ?? null;
    return [track, {
      floor: store.floors.get(track),
      manifest: heldManifest(config, store, track, held),
      running: r ? { seq: r.seq, version: r.version, commit: r.commit, release: r.releaseDir } : null,
      last_apply: a ? { seq: a.seq, version: a.version, state: a.state, reason: a.reason } : null,
      last_stable: stable && { run: stable.id, version: stable.version, finished_at: stable.finishedAt },
      latest_run: latest && {
        run: latest.id, version: latest.version, status: latest.status, stage: latest.stage, stopped_at: stoppedAt(store, latest), reason: latest.reason,
      },
    }];
  }));
  const lastPoll = store.kv.get('authority.last_poll');
  const source = config.authority ? sourceHealth(config, store) : null;
  return {
    node: { id: config.node.id, fleet: config.fleet, labels: config.node.labels, authority: Boolean(config.authority) },
    ...(extra.configPath ? { config: extra.configPath } : {}),
    state_dir: config.state_dir,
    tracks,
    pipeline: source ? {
      // what each unfinished run waits for, and until when (the canary soak, deploy's deadline)
      unfinished: store.unfinishedRuns().map((run) => ({ ...run, waiting: waitingFor(store, run, config.authority?.canary.soak ?? 0) })),
      // last_poll: the last good poll; source: what the last poll (good or not) found wrong
      last_poll: lastPoll ? new Date(Number(lastPoll)).toISOString() : null,
      source: source.polledAt === null ? null : source.problems.length ? source.problems.join('; ') : 'ok',
      source_polled_at: source.polledAt === null ? null : new Date(source.polledAt).toISOString(),
    } : null,
    fleet: { peers: extra.peers ?? 0, ...(await heard(config, store, extra.now ?? Date.now())) },
  };
}

export type NodeStatus = Awaited<ReturnType<typeof nodeStatus>>;

/** How many nodes this one has heard (the fleet read model; on the authority, every node), and how many fell silent. */
async function heard(config: Config, store: Store, now: number): Promise<{ heard: number; silent: number }> {
  const silentAfter = config.authority?.canary.heartbeat_timeout ?? config.gossip.dead_after;
  const nodes = await store.fleet.nodes();
  return { heard: nodes.length, silent: nodes.filter((n) => !isLive(n, now, silentAfter)).length };
}

/**
 * The stage a finished run stopped at (a finished run's `stage` is its end state, so
 * "failed at failed" said nothing): the one the machine recorded when it stopped, else the
 * last stage whose result stopped it; null for a run still going, one that completed, or one
 * aborted before any stage.
 */
export function stoppedAt(store: Store, run: Run): string | null {
  if (run.status === 'pending' || run.status === 'running' || run.status === 'completed') return null;
  const saved = store.loadSnapshot(run.id)?.snapshot as { context?: { stop?: { stage?: unknown } | null } } | undefined;
  const stage = saved?.context?.stop?.stage;
  if (typeof stage === 'string') return stage === 'idle' ? null : stage;
  const last = store.stageResults(run.id).filter((r) => r.outcome === 'failed' || r.outcome === 'rolled_back').at(-1);
  return last?.stage ?? null;
}

/** How `status` says where a run is: `running at test`, `failed at build`, `completed`. */
export function runPlace(run: { status: string; stage: string; stopped_at: string | null }): string {
  if (run.status === 'pending' || run.status === 'running') return `${run.status} at ${run.stage}`;
  return run.stopped_at ? `${run.status} at ${run.stopped_at}` : run.status;
}
