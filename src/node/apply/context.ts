// What the apply engine needs, and the few helpers every step shares: journal moves
// (written BEFORE the effect that follows them, SPEC "Node agent"), events for refusals,
// and running the app's hooks and restart command.
import { resolve } from 'node:path';
import type { AppConfig } from '../../core/config.js';
import { formatDuration } from '../../core/duration.js';
import { UpshiftError, type ErrorCode } from '../../core/errors.js';
import type { Clock, Exec } from '../../core/ports.js';
import type { StateStore } from '../../core/ports.js';
import type { ApplyPatch, ApplyRecord, ApplyState } from '../../core/records.js';
import type { ApplyAlso, ApplyJournal } from '../../core/ports.js';
import type { Keyset } from '../../trust/keyset.js';
import type { Failpoint } from '../../core/ports.js';

export interface ApplyLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface ApplyDeps {
  /** This node: its id (for manifest targets), fleet, and the tracks it follows. */
  node: { id: string; fleet: string; tracks: readonly string[] };
  app: AppConfig;
  /** Where the apply lock file lives (the state dir beside the database). */
  stateDir: string;
  /** floors, events and transactions. */
  store: StateStore;
  tables: ApplyJournal;
  keyset: Keyset;
  exec: Exec;
  clock: Clock;
  /** Crash points for the kill -9 tests; default: none. */
  failpoint?: Failpoint;
  log?: ApplyLog;
  /** The release code hash of a work tree (adapters/code-hash-files.ts in production). */
  codeHash: (dir: string) => Promise<{ hash: string }>;
  /** Aborted on shutdown: an apply after the switch is left open for reconcile() to continue. */
  signal?: AbortSignal;
}

/** A step of the apply that ended it; carries the code the caller gets. */
export class ApplyFailure extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly markBad: boolean) {
    super(message);
  }
}

export type CommandKind = 'install' | 'migrate' | 'restart' | 'stop';

export class ApplyContext {
  readonly appDir: string;
  readonly fp: Failpoint;

  constructor(readonly deps: ApplyDeps) {
    this.appDir = resolve(deps.app.dir);
    this.fp = deps.failpoint ?? (() => {});
  }

  now(): number {
    return this.deps.clock.now();
  }

  /** Journal a transition (state + step row, and `also`: one transaction). */
  async move(apply: ApplyRecord, state: ApplyState, note: string, patch: ApplyPatch = {}, also: ApplyAlso = {}): Promise<ApplyRecord> {
    this.deps.log?.info({ module: 'apply', apply: apply.id, track: apply.track, version: apply.version, state }, note);
    return this.deps.tables.transition(apply.id, state, note, this.now(), patch, also);
  }

  async event(kind: string, data: Record<string, unknown>): Promise<void> {
    await this.deps.store.appendEvent({ at: this.now(), runId: null, stage: null, kind, actor: `node:${this.deps.node.id}`, data });
  }

  /** Absolute path of a release dir name. */
  releasePath(name: string): string {
    return resolve(this.appDir, 'releases', name);
  }

  /**
   * Run a configured hook or the restart (or blue-green stop) command. Hooks run in the new
   * release dir; restart and stop run in the app dir, with the release in the environment,
   * and under blue-green the slot's UPSHIFT_PORT and UPSHIFT_SLOT (`extraEnv`).
   * Throws ApplyFailure when the command fails or times out.
   */
  async runCommand(kind: CommandKind, command: string, release: string, why: string, extraEnv: Record<string, string> = {}): Promise<void> {
    const cwd = kind === 'restart' || kind === 'stop' ? this.appDir : this.releasePath(release);
    const res = await this.deps.exec.run({
      command,
      cwd,
      timeoutMs: this.deps.app.hook_timeout,
      env: {
        UPSHIFT_APP_DIR: this.appDir,
        UPSHIFT_RELEASE: release,
        UPSHIFT_RELEASE_DIR: this.releasePath(release),
        UPSHIFT_REASON: why,
        ...extraEnv,
      },
      ...(this.deps.signal ? { signal: this.deps.signal } : {}),
      tailBytes: 4096,
    });
    if (res.cancelled) throw new UpshiftError('E_CANCELLED', `${kind} of ${release} cancelled`);
    if (res.timedOut) {
      // name the setting, and for restart the contract most often broken: waiting on the app
      const limit = `app.hook_timeout (${formatDuration(this.deps.app.hook_timeout)})`;
      const hint = kind === 'restart' ? '; restart must return once the app is started (start it in the background or through its service manager)' : '';
      throw new ApplyFailure('E_TIMEOUT', `${kind} of ${release} did not finish within ${limit}${hint}: ${lastLine(res.tail)}`, true);
    }
    if (res.exitCode !== 0) {
      const how = res.signal ? `was killed by ${res.signal}` : `exited with code ${String(res.exitCode)}`;
      throw new ApplyFailure('E_COMMAND_FAILED', `${kind} of ${release} ${how}: ${lastLine(res.tail)}`, true);
    }
  }
}

function lastLine(tail: string): string {
  const lines = tail.trim().split('\n');
  return lines.slice(-3).join(' | ').slice(0, 500) || '(no output)';
}

export function isCancel(err: unknown): boolean {
  return err instanceof UpshiftError && err.code === 'E_CANCELLED';
}
