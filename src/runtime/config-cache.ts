// A validated config kept as JSON in the state dir, so short commands (`status`, `fleet ls`)
// skip the YAML parser and the zod schema, which cost more than all else they do (issue 9,
// "CLI start"). It answers only for the same config text (compared whole), path, UPSHIFT_STATE_DIR
// and schema code (the build's hash, or size and mtime of the compiled schema and loader);
// anything else, or any doubt, is a miss and the caller loads the config in full. Imports
// nothing heavy.
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { UpshiftError } from '../core/errors.js';
import type { LoadedConfig } from '../core/loaded-config.js';

const FILE = 'config-cache.json';
const FORMAT = 1;

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.UPSHIFT_CONFIG ?? 'upshift.yaml';
}

/** The config file's text, with the errors every command gives for a missing or unreadable one. */
export function readConfigText(full: string): string {
  try {
    return readFileSync(full, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UpshiftError('E_CONFIG', code === 'ENOENT' ? `config file ${full} not found (run \`upshift init\` to write one)` : `cannot read config ${full}: ${(err as Error).message}`, { cause: err });
  }
}

/** The build's hash of its sources and lockfile (scripts/esbuild-shared.mjs), set by esbuild's builds; tsc's has none. */
declare const __UPSHIFT_BUILD__: string | undefined;

/** The schema's code: the build's hash, or the size and mtime of the compiled schema and loader. */
function codeKey(): unknown {
  if (typeof __UPSHIFT_BUILD__ === 'string') return __UPSHIFT_BUILD__;
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return ['../core/config', './config-load'].map((m) => {
    const s = statSync(new URL(m + ext, import.meta.url));
    return `${s.size}:${s.mtimeMs}`;
  });
}

/** What a cached config must match besides its text: its path, the env that moves the state dir, the schema's code. */
function cacheKey(full: string): string {
  const code = codeKey();
  const env = process.env.UPSHIFT_STATE_DIR ?? null;
  return JSON.stringify([FORMAT, full, env, code]);
}

/**
 * Where the cache of this text would be: the state dir the config names, guessed from a plain
 * top-level `state_dir:` line (YAML is not parsed here). A wrong guess only misses: the key
 * still has to match, and the full load writes to the real state dir.
 */
function guessStateDir(full: string, text: string): string {
  const env = process.env.UPSHIFT_STATE_DIR;
  let dir = env ?? /^state_dir:[ \t]*(.*?)[ \t]*(?:#.*)?$/m.exec(text)?.[1] ?? 'state';
  if (env === undefined && /^(['"]).*\1$/.test(dir)) dir = dir.slice(1, -1);
  return isAbsolute(dir) ? dir : resolve(dirname(full), dir || 'state');
}

/** The config loaded earlier from exactly this text, or null. */
export function cachedConfig(full: string, text: string): LoadedConfig | null {
  try {
    const file = join(guessStateDir(full, text), FILE);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { key?: unknown; text?: unknown; loaded?: LoadedConfig };
    if (saved.text !== text || saved.key !== cacheKey(full)) return null;
    return typeof saved.loaded === 'object' && saved.loaded !== null ? saved.loaded : null;
  } catch {
    return null;
  }
}

/**
 * What to keep of a config just loaded in full (taken at once: callers may change the object
 * later), or null when JSON would not give it back exactly (undefined members, Infinity).
 */
export function configCacheEntry(loaded: LoadedConfig, text: string): string | null {
  const json = JSON.stringify({ key: cacheKey(loaded.path), text, loaded });
  return isDeepStrictEqual((JSON.parse(json) as { loaded: unknown }).loaded, loaded) ? json : null;
}

/**
 * Keep an entry for the next command; best effort (a read-only state dir is fine). False when
 * the state dir is not there yet: the caller may try again once it is.
 */
export function writeConfigCache(stateDir: string, entry: string): boolean {
  const path = join(stateDir, FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, entry, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
  return true;
}

/** Both of the above. */
export function saveConfigCache(loaded: LoadedConfig, text: string): boolean {
  const entry = configCacheEntry(loaded, text);
  return entry === null || writeConfigCache(loaded.stateDir, entry);
}
