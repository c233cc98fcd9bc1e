// What `upshift status` and `GET /v1/status` report: this node, its tracks and floors, and
// the pipeline at a glance. One function so the CLI and HTTP never disagree.
import type { Config } from '../core/config.js';
import type { Store } from '../adapters/sqlite/store.js';
import { receivedManifest } from '../node/receive.js';

export function nodeStatus(config: Config, store: Store, extra: { configPath?: string; peers?: number } = {}) {
  const tracks = Object.fromEntries(config.node.tracks.map((track) => {
    const got = receivedManifest(store, track);
    const stable = store.lastStable(track);
    const latest = store.listRuns({ track, limit: 1 })[0] ?? null;
    return [track, {
      floor: store.floors.get(track),
      manifest: got && { seq: got.seq, version: got.version, commit: got.commit },
      last_stable: stable && { run: stable.id, version: stable.version, finished_at: stable.finishedAt },
      latest_run: latest && { run: latest.id, version: latest.version, status: latest.status, stage: latest.stage, reason: latest.reason },
    }];
  }));
  const lastPoll = store.kv.get('authority.last_poll');
  return {
    node: { id: config.node.id, fleet: config.fleet, labels: config.node.labels, authority: Boolean(config.authority) },
    ...(extra.configPath ? { config: extra.configPath } : {}),
    state_dir: config.state_dir,
    tracks,
    pipeline: config.authority ? { unfinished: store.unfinishedRuns(), last_poll: lastPoll ? new Date(Number(lastPoll)).toISOString() : null } : null,
    fleet: { peers: extra.peers ?? 0 },
  };
}

export type NodeStatus = ReturnType<typeof nodeStatus>;
