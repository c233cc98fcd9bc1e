// Wiring: the one place where adapters meet the pipeline.
import { join } from 'node:path';
import type { Config } from '../core/config.js';
import { UpshiftError } from '../core/errors.js';
import type { Clock, Exec, FleetPort, SourceRepo } from '../core/ports.js';
import { systemClock } from '../adapters/clock.js';
import { codeHash } from '../adapters/codehash.js';
import { createExec } from '../adapters/exec.js';
import { createSourceRepo } from '../adapters/git.js';
import type { Logger } from '../adapters/logger.js';
import { Store } from '../adapters/sqlite/store.js';
import type { PipelineDeps } from '../stages/index.js';
import { loadSigners } from '../trust/keyfile.js';
import { loadKeyset, type Keyset } from '../trust/keyset.js';
import { failpointsFromEnv } from './failpoints.js';
import { gossipFleet } from './gossip-fleet.js';
import { StoreManifestSource } from '../node/agent/manifest-source.js';

export function openStore(stateDir: string, clock: Clock = systemClock): Store {
  return Store.open(join(stateDir, 'upshift.db'), () => clock.now());
}

export function keysetOf(config: Config): Keyset {
  return loadKeyset(config.trust);
}

export interface Overrides {
  clock?: Clock;
  exec?: Exec;
  source?: SourceRepo;
  fleet?: FleetPort;
}

/** Everything the pipeline needs, from a validated config. Fails before touching state if the config cannot run a pipeline. */
export function pipelineDeps(config: Config, store: Store, log: Logger, o: Overrides = {}): PipelineDeps {
  const authority = config.authority;
  if (!authority) throw new UpshiftError('E_CONFIG', 'this node has no `authority:` section: only the authority runs the pipeline');
  const clock = o.clock ?? systemClock;
  const keyset = keysetOf(config);
  return {
    config,
    authority,
    store,
    clock,
    log,
    keyset,
    exec: o.exec ?? createExec(),
    source: o.source ?? createSourceRepo({ remote: authority.source, mirrorDir: join(config.state_dir, 'source.git'), log }),
    // without the daemon's agent: stored for the daemon's gossip to take up (StoreManifestSource.refresh)
    fleet: o.fleet ?? gossipFleet(config, store, clock, new StoreManifestSource({ store, keyset, clock, engine: null, node: { id: config.node.id, fleet: config.fleet, tracks: config.node.tracks } })),
    workRoot: join(config.state_dir, 'work'),
    loadSigners: () => loadSigners(authority.signing_keys),
    codeHash: (dir) => codeHash(dir),
    failpoint: failpointsFromEnv(),
  };
}
