// What every command shares: the loaded config, the store, the logger, JSON or text
// output, and one mapping from error codes to exit codes (0 ok, 1 failed, 2 usage or
// config, 3 stopped by a gate or rolled back).
import type { Command } from 'commander';
import { isUpshiftError, toUpshiftError, type ExitCode } from '../core/errors.js';
import { createLogger, type Logger } from '../adapters/logger.js';
import { mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { systemClock } from '../adapters/clock.js';
import type { StateStore } from '../core/ports.js';
import type { ServiceContext } from '../services/context.js';
import { resolve } from 'node:path';
import {
  cachedConfig, configCacheEntry, defaultConfigPath, readConfigText, saveConfigCache, writeConfigCache,
} from '../runtime/config-cache.js';
import type { LoadedConfig } from '../runtime/config-load.js';
import { openAuthorityStore, openStore } from '../runtime/open-store.js';
import { postgresStore } from '../runtime/pg-target.js';
import { escapeControl } from './render.js';

export interface GlobalOptions {
  config?: string;
}

/** Lazily opened resources for one command invocation. */
export class Session {
  private loaded: LoadedConfig | null = null;
  private opened: StateStore | null = null;
  private logger: Logger | null = null;
  private loader: typeof import('../runtime/config-load.js') | null = null;
  /** A config loaded in full but not cached yet (no state dir then): its cache entry. */
  private uncached: string | null = null;
  private openFailed: unknown = null;

  constructor(private readonly program: Command) {}

  /**
   * Before an action (commander's preAction): the config as cached for this very text
   * (runtime/config-cache.ts), else the full loader (YAML, zod) imported, as config() is sync.
   * `apart` (the daemon, which lives for weeks): a config not cached yet is loaded by a child
   * process first (runtime/config-apart.ts), so that the loader never stays in this one.
   */
  async prepare(opts: { apart?: boolean } = {}): Promise<void> {
    const full = resolve(this.configPath);
    let text: string | null = null;
    try {
      text = readConfigText(full);
    } catch {
      // config() reports it, if the command needs a config at all
    }
    this.loaded = text === null ? null : cachedConfig(full, text);
    if (this.loaded === null && text !== null && opts.apart) {
      const apart = await (await import('../runtime/config-apart.js')).loadConfigApart(full, text);
      if (apart) {
        this.loaded = apart.loaded;
        this.uncached = apart.entry;
        this.cacheLater();
      }
    }
    if (this.loaded === null) this.loader ??= await import('../runtime/config-load.js');
  }

  get configPath(): string {
    return (this.program.opts() as GlobalOptions).config ?? defaultConfigPath();
  }

  config(): LoadedConfig {
    if (this.loaded) return this.loaded;
    if (!this.loader) throw new Error('Session.prepare() must run before config()');
    const full = resolve(this.configPath);
    const text = readConfigText(full);
    this.loaded = this.loader.parseConfig(full, text);
    this.uncached = configCacheEntry(this.loaded, text);
    this.cacheLater();
    return this.loaded;
  }

  /**
   * For commands that set a node up for `upshift daemon` (join): the config at `path` cached
   * now, so that the daemon's first start needs no config child (config-apart.ts). Best effort:
   * a config that does not load is left for the daemon to report.
   */
  async keepConfigCache(path = this.configPath): Promise<void> {
    try {
      const full = resolve(path);
      const text = readConfigText(full);
      if (cachedConfig(full, text)) return;
      this.loader ??= await import('../runtime/config-load.js');
      const loaded = this.loader.parseConfig(full, text);
      // made as the store makes it
      mkdirSync(loaded.stateDir, { recursive: true, mode: 0o700 });
      saveConfigCache(loaded, text);
    } catch {
      // the daemon loads it in full, and says what is wrong
    }
  }

  /** Cache the config once the state dir exists (the store made it, or a command wrote into it). */
  private cacheLater(): void {
    if (this.uncached === null || !this.loaded) return;
    if (writeConfigCache(this.loaded.stateDir, this.uncached)) this.uncached = null;
  }

  /**
   * An authority on PostgreSQL: open its store now (it is async), so `store()` stays
   * synchronous for every command. A config that does not load, or a database that cannot be
   * reached, is reported when (and only if) the command asks for the store.
   */
  async prepareStore(): Promise<void> {
    if (this.opened) return;
    let loaded: LoadedConfig;
    try {
      loaded = this.config();
    } catch {
      this.loaded = null;
      return;
    }
    if (!postgresStore(loaded.config)) return;
    try {
      this.opened = (await openAuthorityStore(loaded.config, loaded.stateDir, { applicationName: 'upshift-cli' })).store;
    } catch (err) {
      this.openFailed = err;
    }
  }

  store(): StateStore {
    if (this.openFailed) throw this.openFailed;
    if (!this.opened) {
      this.opened = openStore(this.config().stateDir);
      this.cacheLater();
    }
    return this.opened;
  }

  /** Interactive commands log warnings only unless UPSHIFT_LOG_LEVEL says otherwise. */
  log(level?: string): Logger {
    this.logger ??= createLogger({ level: process.env.UPSHIFT_LOG_LEVEL ?? level ?? 'warn' });
    return this.logger;
  }

  /** The service context for this invocation; the actor is the invoking user. */
  context(logLevel?: string): ServiceContext {
    const session = this;
    // the logger (pino) is made when a service first logs: `fleet ls` never does
    return {
      config: this.config().config, store: this.store(), clock: systemClock, actor: cliActor(),
      get log() {
        return session.log(logLevel);
      },
    };
  }

  async close(): Promise<void> {
    const store = this.opened;
    this.opened = null;
    await store?.close();
    this.cacheLater();
  }
}

/** Who a CLI invocation acts as, in the audit trail. */
export function cliActor(): string {
  return `cli:${userInfo().username}`;
}

/** JSON escapes C0 itself; DEL and C1 are escaped here too (the same JSON value), for a terminal. */
export function printJson(data: unknown): void {
  const text = JSON.stringify(data, null, 2)
    .replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  process.stdout.write(`${text}\n`);
}

/** Every human line goes out here: control characters escaped (render.ts escapeControl). */
export function say(text: string): void {
  process.stdout.write(`${escapeControl(text)}\n`);
}

/** Print an error the way every command does, and return its exit code. */
export function reportError(err: unknown, json: boolean): ExitCode {
  const e = toUpshiftError(err);
  if (json) printJson({ ok: false, error: e.toJSON() });
  else process.stderr.write(`upshift: ${e.code}: ${escapeControl(e.message)}\n`);
  if (!isUpshiftError(err) && process.env.UPSHIFT_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
  return e.exitCode;
}

/** Wrap a command action: close resources, map errors to exit codes, honour --json. */
export function action<A extends unknown[]>(session: Session, fn: (...args: A) => Promise<ExitCode | void>, opts: { store?: boolean } = {}) {
  return async (...args: A): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const json = Boolean((cmd.opts() as { json?: boolean }).json);
    try {
      if (opts.store !== false) await session.prepareStore();
      process.exitCode = (await fn(...args)) ?? 0;
    } catch (err) {
      process.exitCode = reportError(err, json);
    } finally {
      await session.close();
    }
  };
}
