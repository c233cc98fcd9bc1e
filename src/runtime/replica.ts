// One authority replica on PostgreSQL: it says it is here every second (the replicas table),
// campaigns for leadership (blocking on the lock, never polling it), and serves reads as a
// follower meanwhile. On winning, every store write is fenced by the new epoch and the
// authority's effects start; on losing (E_FENCED) they stop and the daemon exits, failing
// closed, so systemd restarts it as a follower. SIGTERM: finish the write in progress, resign.
import { hostname } from 'node:os';
import { toUpshiftError, UpshiftError } from '../core/errors.js';
import type { Logger } from '../adapters/logger.js';
import type { PgTarget } from '../adapters/postgres/connect.js';
import { Leadership } from '../adapters/postgres/leader.js';
import type { ReplicaSession } from '../adapters/postgres/replica-session.js';
import { touchReplica } from '../adapters/postgres/replicas.js';

/** What runs only on the leader (the poll-and-drive loop, the deployment driver, the queued commands). */
export interface Effects {
  start(): void;
  stop(): Promise<void>;
}

export interface ReplicaOptions {
  target: PgTarget;
  fleet: string;
  replica: string;
  stallTimeoutMs: number;
  session: ReplicaSession;
  log: Logger;
  /** Between campaigns when the database cannot be reached at all. */
  retryMs?: number;
}

export class Replica {
  private readonly stopping = new AbortController();
  private readonly startedAt = Date.now();
  private heartbeat: NodeJS.Timeout | null = null;
  private campaigning: Promise<void> | null = null;
  private effects: Effects | null = null;
  private fatal: ((err: UpshiftError) => void) | null = null;

  constructor(private readonly opts: ReplicaOptions) {}

  get leader(): Leadership | null {
    return this.opts.session.leading;
  }

  get name(): string {
    return this.opts.replica;
  }

  get session(): ReplicaSession {
    return this.opts.session;
  }

  /** Effects may start now: leading, not lost, renewed recently. Throws E_FENCED otherwise. */
  guard(what: string): void {
    const l = this.leader;
    if (l?.fresh()) return;
    throw l?.lostReason ?? new UpshiftError('E_FENCED', `${what}: this replica (${this.opts.replica}) is not a fresh leader`);
  }

  /** Begin: renew this replica's row every second and campaign in the background. */
  start(effects: Effects, onFatal: (err: UpshiftError) => void): void {
    this.effects = effects;
    this.fatal = onFatal;
    // The pool reaches the one host the store was opened on. After a PostgreSQL failover it
    // may never reach the primary again while the leader lock (which walks the hosts) does:
    // with no renewal of this replica's row for stall_timeout, exit, so a restart walks the hosts.
    let failingSince: number | null = null;
    const touch = () => void touchReplica(this.opts.session.pool, this.opts.fleet,
      { replica: this.opts.replica, host: hostname(), pid: process.pid, startedAt: this.startedAt })
      .then(() => { failingSince = null; })
      .catch((err: unknown) => {
        this.opts.log.warn({ module: 'replica', err: (err as Error).message }, 'could not renew this replica\'s row');
        failingSince ??= performance.now();
        if (performance.now() - failingSince <= this.opts.stallTimeoutMs || this.heartbeat === null) return;
        clearInterval(this.heartbeat);
        this.heartbeat = null;
        void this.lost(new UpshiftError('E_STORE_UNAVAILABLE', `this replica has not reached the primary through its pool `
          + `for over ${this.opts.stallTimeoutMs} ms (stall_timeout): ${(err as Error).message}; exiting, so a restart walks the hosts again`));
      });
    touch();
    this.heartbeat = setInterval(touch, 1000);
    this.heartbeat.unref();
    this.campaigning = this.campaign();
  }

  private async campaign(): Promise<void> {
    const { log } = this.opts;
    const signal = this.stopping.signal;
    log.info({ module: 'replica', replica: this.opts.replica }, 'following; campaigning for leadership');
    while (!signal.aborted) {
      let leader: Leadership;
      try {
        leader = await Leadership.campaign({
          target: this.opts.target, fleet: this.opts.fleet, replica: this.opts.replica, stallTimeoutMs: this.opts.stallTimeoutMs, signal,
        });
      } catch (err) {
        if (signal.aborted) return;
        const e = toUpshiftError(err);
        // a proxy that cannot hold a session lock will never do: stop, do not retry
        if (e.code === 'E_POOLED_SESSION') return this.fatal?.(e);
        log.warn({ module: 'replica', code: e.code, err: e.message }, 'campaign failed; trying again');
        await new Promise((r) => setTimeout(r, this.opts.retryMs ?? 1000));
        continue;
      }
      if (signal.aborted) {
        await leader.resign();
        return;
      }
      this.opts.session.lead(leader);
      leader.onLost((err) => void this.lost(err));
      log.info({ module: 'replica', replica: this.opts.replica, epoch: leader.epoch }, 'leading the fleet; starting the authority');
      this.effects?.start();
      return;
    }
  }

  private async lost(err: UpshiftError): Promise<void> {
    if (this.stopping.signal.aborted) return; // resigning: not a failure
    this.opts.log.error({ module: 'replica', code: err.code, err: err.message }, this.leader
      ? 'leadership lost; stopping the authority, failing closed' : 'stopping this replica');
    // cut off from the database, an effect can hang on a query that never returns: the daemon
    // exits anyway after stall_timeout (its writes are fenced; what is in flight is lost with it)
    let budget: NodeJS.Timeout | undefined;
    await Promise.race([
      this.effects?.stop().catch(() => undefined),
      new Promise<void>((r) => { budget = setTimeout(r, this.opts.stallTimeoutMs); }),
    ]);
    clearTimeout(budget);
    // still leading (the store, not the lock, was lost): unlock at once for the next leader
    if (err.code !== 'E_FENCED') await this.leader?.resign();
    this.fatal?.(err);
  }

  /** SIGTERM: stop campaigning, let the effects finish their write, resign the lock. */
  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.campaigning?.catch(() => undefined);
    await this.effects?.stop().catch(() => undefined);
    await this.leader?.resign();
  }
}
