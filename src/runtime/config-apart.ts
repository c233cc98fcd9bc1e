// A daemon whose config is not cached yet (its first start, or the first after an edit) has
// it loaded by a short-lived child process (config-child.ts) instead of loading the YAML
// parser and the config schema into itself: modules once imported stay for the process's
// life, and those two are ~2 MB of an idle node's ~70 (issue 9, footprint). The child
// hands back the cache entry a full load makes (config-cache.ts), text and all. Any doubt
// (the child failed, timed out, saw other text) is null, and the caller loads in process,
// which also gives a bad config its usual error.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadedConfig } from '../core/loaded-config.js';

export interface ApartEntry {
  loaded: LoadedConfig;
  /** The cache entry as the child wrote it, to keep in the state dir. */
  entry: string;
}

/** Generous: the child is one Node start and one config load, on a machine that may be busy. */
const CHILD_TIMEOUT_MS = 60_000;

const CHILD = new URL('./config-child.js', import.meta.url);

/** The config at `full` (whose text the caller read as `text`), loaded by a child process; null: load it here. */
export async function loadConfigApart(
  full: string, text: string, timeoutMs = CHILD_TIMEOUT_MS,
): Promise<ApartEntry | null> {
  // the child is compiled JavaScript; run from TypeScript sources there is none to start
  if (!import.meta.url.endsWith('.js')) return null;
  const out = await new Promise<string | null>((resolve) => {
    const opts = { timeout: timeoutMs, maxBuffer: 16 << 20, encoding: 'utf8' as const };
    execFile(process.execPath, [fileURLToPath(CHILD), full], opts, (err, stdout) => resolve(err ? null : stdout));
  });
  if (out === null) return null;
  try {
    const saved = JSON.parse(out) as { text?: unknown; loaded?: unknown };
    // the file changed between the two reads: the text this process read is what counts
    if (saved.text !== text || typeof saved.loaded !== 'object' || saved.loaded === null) return null;
    return { loaded: saved.loaded as LoadedConfig, entry: out };
  } catch {
    return null;
  }
}
