// What `upshift status` and `GET /v1/status` report: this node, its tracks and floors, and
// the pipeline at a glance. One function so the CLI and HTTP never disagree.
import type { Config } from '../core/config.js';
import type { StateStore } from '../core/ports.js';
import type { ManifestPayload } from '../core/manifest.js';
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
export async function storedManifests(config: Config, store: StateStore): Promise<HeldManifests> {
  const node = sourceNode(config);
  const stored = await Promise.all([...node.tracks, ...(node.relay ?? [])].map((t) => storedHeld(store, t)));
  if (stored.every((s) => s.length === 0)) return { payloads: () => [] }; // nothing held: no keyset needed
  const source = await StoreManifestSource.open({ store, keyset: keysetOf(config), node, clock: { now: () => Date.now() }, engine: null });
  return { payloads: (track) => source.payloads(track) };
}

/** The newest manifest this node holds for gossip on a track. */
export async function heldManifest(config: Config, store: StateStore, track: string, held?: HeldManifests) {
  const payload = (held ?? await storedManifests(config, store)).payloads(track)[0];
  if (!payload) return null;
  return { seq: payload.seq, version: payload.version, commit: payload.commit, kind: payload.kind, targets: payload.targets };
}

export async function nodeStatus(config: Config, store: StateStore, extra: { configPath?: string; peers?: number; held?: HeldManifests } = {}) {
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
      latest_run: latest && { run: latest.id, version: latest.version, status: latest.status, stage: latest.stage, reason: latest.reason },
    }] as const;
  })));
  const lastPoll = await store.kv.get('authority.last_poll');
  const source = config.authority ? await sourceHealth(config, store) : null;
  return {
    node: { id: config.node.id, fleet: config.fleet, labels: config.node.labels, authority: Boolean(config.authority) },
    ...(extra.configPath ? { config: extra.configPath } : {}),
    state_dir: config.state_dir,
    tracks,
    pipeline: source ? {
      // what each unfinished run waits for, and until when (the canary soak, deploy's deadline)
      unfinished: await Promise.all((await store.unfinishedRuns()).map(async (run) => ({ ...run, waiting: await waitingFor(store, run, config.authority?.canary.soak ?? 0) }))),
      // last_poll: the last good poll; source: what the last poll (good or not) found wrong
      last_poll: lastPoll ? new Date(Number(lastPoll)).toISOString() : null,
      source: source.polledAt === null ? null : source.problems.length ? source.problems.join('; ') : 'ok',
      source_polled_at: source.polledAt === null ? null : new Date(source.polledAt).toISOString(),
    } : null,
    fleet: { peers: extra.peers ?? 0 },
  };
}

export type NodeStatus = Awaited<ReturnType<typeof nodeStatus>>;
