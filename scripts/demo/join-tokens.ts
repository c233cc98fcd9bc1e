// One-time join tokens for a loopback fleet's nodes, minted beside the running authority:
// what `upshift fleet token --node <id> --labels region=<r>` makes, through the same service
// and the authority's own store (WAL lets us write beside its daemon), audited as the
// invoking user. Not a `fleet token` process per node: each was a CLI start (node, its
// modules, the config and store opened) on every fleet start, for the same row in the store.
import { userInfo } from 'node:os';
import { systemClock } from '../../src/adapters/clock.js';
import { createLogger } from '../../src/adapters/logger.js';
import { loadConfig } from '../../src/runtime/config-load.js';
import { openStore } from '../../src/runtime/open-store.js';
import { issueToken } from '../../src/services/fleet.js';
import { DEFAULT_TOKEN_TTL_MS } from '../../src/trust/join-token.js';

/** A token per node, each usable only by that node id and giving it that region label. */
export async function joinTokens(authorityConfig: string, nodes: Array<{ id: string; region: string }>): Promise<string[]> {
  const { config } = loadConfig(authorityConfig);
  const store = openStore(config.state_dir);
  const ctx = { config, store, clock: systemClock, log: createLogger({ level: 'warn' }), actor: `cli:${userInfo().username}` };
  try {
    const out: string[] = [];
    for (const n of nodes) {
      out.push((await issueToken(ctx, { labels: { region: n.region }, ttlMs: DEFAULT_TOKEN_TTL_MS, nodeId: n.id })).evidence.token);
    }
    return out;
  } finally {
    await store.close();
  }
}
