// Wiring: the one place where adapters meet the pipeline.
import { join } from 'node:path';
import type { Config } from '../core/config.js';
import { UpshiftError } from '../core/errors.js';
import type { Clock, Exec, FleetPort, SourceRepo } from '../core/ports.js';
import { systemClock } from '../adapters/clock.js';
import { codeHash } from '../adapters/code-hash-files.js';
import { createExec } from '../adapters/exec.js';
import { createSandbox } from '../adapters/sandbox.js';
import { createSourceRepo } from '../adapters/git.js';
import type { Logger } from '../adapters/logger.js';
import type { StateStore } from '../core/ports.js';
import type { PipelineDeps } from '../stages/index.js';
import { loadSigners } from '../trust/keyfile.js';
import { keysetOf } from '../trust/keyset.js';
import { failpointsFromEnv } from '../adapters/failpoints.js';
import { gossipFleet } from './gossip-fleet.js';
import { sourceNode, StoreManifestSource } from '../node/agent/manifest-source.js';

export { openStore } from './open-store.js';


export interface Overrides {
  clock?: Clock;
  exec?: Exec;
  source?: SourceRepo;
  fleet?: FleetPort;
}

/** Everything the pipeline needs, from a validated config. Fails before touching state if the config cannot run a pipeline. */
export function pipelineDeps(config: Config, store: StateStore, log: Logger, o: Overrides = {}): PipelineDeps {
  const authority = config.authority;
  if (!authority) throw new UpshiftError('E_CONFIG', 'this node has no `authority:` section: only the authority runs the pipeline');
  const clock = o.clock ?? systemClock;
  const keyset = keysetOf(config);
  const secrets = [...authority.signing_keys, config.node.key];
  const sandbox = createSandbox({ sandbox: authority.sandbox, stateDir: config.state_dir, secrets, log });
  // opened at the first publish: what the store holds is read then
  let held: Promise<StoreManifestSource> | undefined;
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
    fleet: o.fleet ?? gossipFleet(config, store, clock, {
      accept: async (envelope) => (await (held ??= StoreManifestSource.open({ store, keyset, clock, engine: null, node: sourceNode(config) }))).accept(envelope),
    }),
    workRoot: sandbox.workRoot,
    sandbox,
    loadSigners: () => loadSigners(authority.signing_keys),
    codeHash: (dir) => codeHash(dir),
    failpoint: failpointsFromEnv(),
  };
}
