// A LoopbackFleet for a test file that gets one: started in a temp dir, the authority's store
// opened for watching, and everything stopped and removed at the file's teardown, strays
// included (a start that failed half way leaves daemons the fleet does not list).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackFleet, type FleetOptions } from '../../scripts/demo/fleet.js';
import type { Store } from '../../src/adapters/sqlite/store.js';
import { openStore } from '../../src/runtime/deps.js';
import { CLI_PATH } from './cli.js';

export interface TestFleet {
  fleet: LoopbackFleet;
  dir: string;
  /** The authority's store, read alongside its daemon (WAL). */
  store: Store;
}

/** Processes whose command line names `dir` (daemons, apps): SIGTERM by pid. */
function killStrays(dir: string): void {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) process.kill(Number(pid), 'SIGTERM');
    } catch {
      // gone already
    }
  }
}

export async function startTestFleet(t: Tap.Test, prefix: string, opts: Omit<FleetOptions, 'dir'>): Promise<TestFleet> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const fleet = new LoopbackFleet({ cliPath: CLI_PATH, startTimeoutMs: 120_000, ...opts, dir });
  try {
    await fleet.start();
  } catch (err) {
    await fleet.stop().catch(() => {});
    killStrays(dir);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const store = openStore(fleet.authority.stateDir);
  t.teardown(async () => {
    store.close();
    await fleet.stop();
    killStrays(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  return { fleet, dir, store };
}
