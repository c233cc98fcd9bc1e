// The child process of config-apart.ts: `node config-child.js <absolute config path>` loads
// the config in full and prints its cache entry (config-cache.ts) on stdout. A config that
// does not load, or one JSON would not give back exactly, exits 1 with nothing on stdout:
// the daemon then loads it itself and reports the error the usual way.
import { configCacheEntry, readConfigText } from './config-cache.js';
import { parseConfig } from './config-load.js';

function main(full: string | undefined): number {
  if (full === undefined) return 2;
  try {
    const text = readConfigText(full);
    const entry = configCacheEntry(parseConfig(full, text), text);
    if (entry === null) return 1;
    process.stdout.write(entry);
    return 0;
  } catch {
    return 1;
  }
}

process.exitCode = main(process.argv[2]);
