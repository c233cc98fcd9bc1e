// What `upshift status` and `GET /v1/status` report: this node, its tracks and floors, and
// the pipeline at a glance. One function so the CLI and HTTP never disagree.
import type { Config } from '../core/config.js';
import type { StateStore } from '../core/ports.js';
import type { ManifestPayload } from '../core/manifest.js';
import type { Run } from '../core/run.js';
import { isLive } from '../core/node-state.js';
import { sourceNode, storedHeld } from '../node/agent/held-store.js';
import { silentAfterHeld } from '../node/agent/held-interval.js';

/** The verified manifests this node holds for gossip, newest first per track. */
export interface HeldManifests {
  payloads(track: string): ManifestPayload[];
}

/**
 * The held manifests as stored, verified once here: the door for a process without a gossip
 * agent (the CLI). The daemon passes its agent's source, which verified them on arrival.
 */
export async function storedManifests(config: Config, store: StateStore): Promise<HeldManifests> {
  return storedManifestsView(config, store)();
}

/**
 * A view of the held manifests that verifies them again only when what is stored changed: a
 * daemon without an agent keeps one for its life, and /metrics and /v1/status must not verify
 * signatures per request. Each call reads the stored lists (one kv read per track).
 */
export function storedManifestsView(config: Config, store: StateStore): () => Promise<HeldManifests> {
  const node = sourceNode(config);
  const tracks = [...node.tracks, ...(node.relay ?? [])];
  let seen = '';
  let view: HeldManifests = { payloads: () => [] };
  return async () => {
    const stored = await Promise.all(tracks.map((t) => storedHeld(store, t)));
    const key = JSON.stringify(stored);
    if (key === seen) return view;
    if (stored.every((s) => s.length === 0)) {
      view = { payloads: () => [] }; // nothing held: no keyset needed
    } else {
      // verification (zod, Ed25519) loaded only when something is held: `status` starts faster
      const [{ StoreManifestSource }, { keysetOf }] = await Promise.all([
        import('../node/agent/manifest-source.js'), import('../trust/keyset.js'),
      ]);
      const source = await StoreManifestSource.open({ store, keyset: keysetOf(config), node, clock: { now: () => Date.now() }, engine: null });
      view = { payloads: (track) => source.payloads(track) };
    }
    seen = key;
    return view;
  };
}

/** The newest manifest this node holds for gossip on a track. */
export async function heldManifest(config: Config, store: StateStore, track: string, held?: HeldManifests) {
  const payload = (held ?? await storedManifests(config, store)).payloads(track)[0];
  if (!payload) return null;
  return { seq: payload.seq, version: payload.version, commit: payload.commit, kind: payload.kind, targets: payload.targets };
}

/** What the authority's store says of itself: PostgreSQL replicas report their leader and standbys. */
export type AuthorityStoreStatus = { kind: 'sqlite' } | ({ kind: 'postgres' } & Record<string, unknown>);

export async function nodeStatus(config: Config, store: StateStore, extra: {
  configPath?: string; peers?: number; held?: HeldManifests; now?: number;
  /** On PostgreSQL: the leader, its epoch, the replicas and the synchronous standbys (authority-info.ts). */
  authorityStore?: () => Promise<object>;
} = {}) {
  const held = extra.held ?? await storedManifests(config, store);
  const running = new Map((await store.journal.latestConfirmedPerTrack()).map((a) => [a.track, a]));
  const last = new Map((await store.journal.latestPerTrack()).map((a) => [a.track, a]));
  const tracks = Object.fromEntries(await Promise.all(config.node.tracks.map(async (track) => {
    const r = running.get(track);
    const a = last.get(track);
    const stable = await store.lastStable(track);
    const latest = (await store.listRuns({ track, limit: 1 }))[0] ?? null;
    return [track, {
      floor: await store.floors.get(track),
      manifest: await heldManifest(config, store, track, held),
      running: r ? { seq: r.seq, version: r.version, commit: r.commit, release: r.releaseDir } : null,
      last_apply: a ? { seq: a.seq, version: a.version, state: a.state, reason: a.reason } : null,
      last_stable: stable && { run: stable.id, version: stable.version, finished_at: stable.finishedAt },
      latest_run: latest && {
        run: latest.id, version: latest.version, status: latest.status, stage: latest.stage, stopped_at: await stoppedAt(store, latest), reason: latest.reason,
      },
    }] as const;
  })));
  const lastPoll = await store.kv.get('authority.last_poll');
  // the pipeline's part (semver, git remotes, canary promotion) is loaded on the authority only
  const authority = config.authority
    ? await Promise.all([import('./source-health.js'), import('./run-wait.js')])
    : null;
  const source = authority ? await authority[0].sourceHealth(config, store) : null;
  const waitingFor = authority?.[1].waitingFor;
  const storeStatus = config.authority ? await authorityStoreStatus(config, extra.authorityStore) : null;
  return {
    node: { id: config.node.id, fleet: config.fleet, labels: config.node.labels, authority: Boolean(config.authority) },
    ...(extra.configPath ? { config: extra.configPath } : {}),
    state_dir: config.state_dir,
    tracks,
    pipeline: source && waitingFor ? {
      // what each unfinished run waits for, and until when (the canary soak, deploy's deadline)
      unfinished: await Promise.all((await store.unfinishedRuns()).map(async (run) => ({ ...run, waiting: await waitingFor(store, run, config.authority?.canary.soak ?? 0) }))),
      // last_poll: the last good poll; source: what the last poll (good or not) found wrong
      last_poll: lastPoll ? new Date(Number(lastPoll)).toISOString() : null,
      source: source.polledAt === null ? null : source.problems.length ? source.problems.join('; ') : 'ok',
      source_polled_at: source.polledAt === null ? null : new Date(source.polledAt).toISOString(),
    } : null,
    ...(storeStatus ? { authority_store: storeStatus } : {}),
    fleet: { peers: extra.peers ?? 0, ...(await heard(config, store, extra.now ?? Date.now())) },
  };
}

export type NodeStatus = Awaited<ReturnType<typeof nodeStatus>>;

/** sqlite, or postgres with what its replicas say; a database that cannot be asked is said, not thrown. */
async function authorityStoreStatus(config: Config, ask?: () => Promise<object>): Promise<AuthorityStoreStatus> {
  if (config.authority?.store.kind !== 'postgres') return { kind: 'sqlite' };
  if (!ask) return { kind: 'postgres' };
  try {
    const { store: _store, ...info } = await ask() as Record<string, unknown>;
    return { kind: 'postgres', ...info };
  } catch (err) {
    return { kind: 'postgres', error: (err as Error).message };
  }
}

/** How many nodes this one has heard (the fleet read model; on the authority, every node), and how many fell silent. */
async function heard(config: Config, store: StateStore, now: number): Promise<{ heard: number; silent: number }> {
  const silentAfter = await silentAfterHeld(config, store, config.authority?.canary.heartbeat_timeout ?? config.gossip.dead_after);
  const nodes = await store.fleet.nodes();
  return { heard: nodes.length, silent: nodes.filter((n) => !isLive(n, now, silentAfter)).length };
}

/**
 * The stage a finished run stopped at (a finished run's `stage` is its end state, so
 * "failed at failed" said nothing): the one the machine recorded when it stopped, else the
 * last stage whose result stopped it; null for a run still going, one that completed, or one
 * aborted before any stage.
 */
export async function stoppedAt(store: StateStore, run: Run): Promise<string | null> {
  if (run.status === 'pending' || run.status === 'running' || run.status === 'completed') return null;
  const saved = (await store.loadSnapshot(run.id))?.snapshot as { context?: { stop?: { stage?: unknown } | null } } | undefined;
  const stage = saved?.context?.stop?.stage;
  if (typeof stage === 'string') return stage === 'idle' ? null : stage;
  const last = (await store.stageResults(run.id)).filter((r) => r.outcome === 'failed' || r.outcome === 'rolled_back').at(-1);
  return last?.stage ?? null;
}

/** How `status` says where a run is: `running at test`, `failed at build`, `completed`. */
export function runPlace(run: { status: string; stage: string; stopped_at: string | null }): string {
  if (run.status === 'pending' || run.status === 'running') return `${run.status} at ${run.stage}`;
  return run.stopped_at ? `${run.status} at ${run.stopped_at}` : run.status;
}
