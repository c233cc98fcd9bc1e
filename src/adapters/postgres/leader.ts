// One leader among authority replicas: a session advisory lock (keyed by fleet) held on a
// dedicated connection, and an epoch bumped by every takeover. Every leader write runs on
// that session in a transaction that first share-locks the epoch row: a takeover's bump
// waits for it, or it sees a newer epoch and changes nothing (E_FENCED). Followers block on
// the lock, never poll it; one that finds the holder's renewals older than stall_timeout
// terminates the holder's backend, which ends its session and so its lock.
import type pg from 'pg';
import { UpshiftError } from '../../core/errors.js';
import { connectPrimary, type PgTarget } from './connect.js';
import { LOCK_CLASS } from './migrate.js';

const LEADER_CLASS = LOCK_CLASS + 1;

export interface LeaderOptions {
  target: PgTarget;
  fleet: string;
  /** This replica's name, shown in `authority status`. */
  replica: string;
  /** A holder whose last renewal is older than this is deposed. */
  stallTimeoutMs: number;
  renewEveryMs?: number;
  signal?: AbortSignal;
}

export type Queryable = Pick<pg.Client, 'query'>;

export interface LeaderRow {
  epoch: number;
  replica: string;
  pid: number;
  renewedAgoMs: number;
}

async function lockKey(client: pg.Client, fleet: string): Promise<number> {
  const { rows } = await client.query<{ k: number }>('SELECT hashtext($1) AS k', [fleet]);
  return rows[0]?.k as number;
}

/** The current leader row of a fleet, or null before the first election. */
export async function readLeader(client: Queryable, fleet: string): Promise<LeaderRow | null> {
  const { rows } = await client.query<{ epoch: string; replica: string; pid: number; ago: number }>(
    `SELECT epoch, replica, pid, (extract(epoch FROM clock_timestamp() - renewed_at) * 1000)::float8 AS ago
       FROM upshift_leader WHERE fleet = $1`, [fleet]);
  const r = rows[0];
  return r ? { epoch: Number(r.epoch), replica: r.replica, pid: r.pid, renewedAgoMs: r.ago } : null;
}

/** Terminate the lock holder's backend when its renewals are older than the stall timeout. */
async function deposeIfStalled(watcher: pg.Client, fleet: string, key: number, stallMs: number): Promise<boolean> {
  const { rowCount } = await watcher.query(
    `SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN upshift_leader u ON u.pid = l.pid
      WHERE u.fleet = $1 AND clock_timestamp() - u.renewed_at > $2 * interval '1 millisecond'
        AND l.locktype = 'advisory' AND l.classid = $3 AND l.objid = $4 AND l.objsubid = 2 AND l.granted`,
    [fleet, stallMs, LEADER_CLASS, key >>> 0]);
  return (rowCount ?? 0) > 0;
}

export class Leadership {
  private lost: UpshiftError | null = null;
  private lastRenew = performance.now();
  private chain: Promise<unknown> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private readonly lostHandlers: Array<(err: UpshiftError) => void> = [];

  private constructor(private readonly client: pg.Client, private readonly opts: LeaderOptions, private readonly key: number, readonly epoch: number) {
    const every = renewEvery(opts);
    this.timer = setInterval(() => {
      // cut off from the database a leader cannot hear that it was deposed: with no renewal for
      // stall_timeout a follower may have taken over, so it stops on its own (fencing keeps
      // its writes out either way; this keeps it from hanging on until the link heals)
      if (performance.now() - this.lastRenew > opts.stallTimeoutMs) {
        this.lose(`no renewal for over ${opts.stallTimeoutMs} ms (stall_timeout): deposed or cut off`);
      }
      else void this.renew();
    }, every);
    this.timer.unref();
  }

  /** Block until this replica leads the fleet; then the epoch is bumped and returned with it. */
  static async campaign(opts: LeaderOptions): Promise<Leadership> {
    const client = await connectPrimary({ ...opts.target, applicationName: `upshift-leader:${opts.replica}` });
    const watcher = await connectPrimary({ ...opts.target, applicationName: `upshift-watch:${opts.replica}` });
    const key = await lockKey(client, opts.fleet);
    let waiting = true;
    let wake = (): void => undefined;
    const watch = (async () => {
      while (waiting && !opts.signal?.aborted) {
        await deposeIfStalled(watcher, opts.fleet, key, opts.stallTimeoutMs).catch(() => false);
        // woken at once when the lock is ours: taking over must not wait out this pause
        await new Promise<void>((r) => {
          if (!waiting) return r();
          const timer = setTimeout(r, Math.min(1000, opts.stallTimeoutMs / 2));
          wake = () => { clearTimeout(timer); r(); };
        });
      }
    })();
    const abort = (): void => void client.end().catch(() => undefined);
    opts.signal?.addEventListener('abort', abort, { once: true });
    try {
      await client.query('SELECT pg_advisory_lock($1, $2)', [LEADER_CLASS, key]);
      const { rows: held } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2
            AND objsubid = 2 AND granted AND pid = pg_backend_pid()`, [LEADER_CLASS, key >>> 0]);
      if (held[0]?.n !== 1) {
        throw new UpshiftError('E_POOLED_SESSION', 'the leader lock is not held by this session: the connection goes through a transaction-pooling proxy; point authority.store at PostgreSQL directly (or a session-pooling proxy)');
      }
      return new Leadership(client, opts, key, await takeEpoch(client, opts));
    } catch (err) {
      await client.end().catch(() => undefined);
      if (opts.signal?.aborted) throw new UpshiftError('E_CANCELLED', 'stopped while waiting to lead');
      throw err;
    } finally {
      waiting = false;
      wake();
      opts.signal?.removeEventListener('abort', abort);
      await watch;
      await watcher.end().catch(() => undefined);
    }
  }

  /** Still leading and renewed recently: effects may start. */
  fresh(): boolean {
    const overdue = Math.min(this.opts.stallTimeoutMs / 2, 3 * renewEvery(this.opts));
    return this.lost === null && performance.now() - this.lastRenew < overdue;
  }

  get lostReason(): UpshiftError | null {
    return this.lost;
  }

  onLost(handler: (err: UpshiftError) => void): void {
    if (this.lost) handler(this.lost);
    else this.lostHandlers.push(handler);
  }

  /** Run `fn` in a transaction on the leader session, fenced by the epoch. */
  fenced<T>(fn: (db: Queryable) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      if (this.lost) throw this.lost;
      try {
        await this.client.query('BEGIN');
        // share-lock the epoch row (a takeover's bump waits for this transaction) and count
        // this write in the fence log, in one statement
        const { rows } = await this.client.query<{ epoch: string }>(
          `WITH l AS (SELECT epoch FROM upshift_leader WHERE fleet = $1 FOR SHARE),
                f AS (UPDATE upshift_epochs SET writes = writes + 1
                       WHERE fleet = $1 AND epoch = $2::bigint AND epoch = (SELECT epoch FROM l))
           SELECT epoch FROM l`, [this.opts.fleet, this.epoch]);
        const current = Number(rows[0]?.epoch);
        if (current !== this.epoch) throw this.lose(`epoch ${this.epoch} was superseded by ${current}`);
        const out = await fn(this.client);
        await this.client.query('COMMIT');
        return out;
      } catch (err) {
        await this.client.query('ROLLBACK').catch(() => undefined);
        if (err instanceof UpshiftError) throw err;
        if (isSessionGone(err)) throw this.lose(`the leader session ended: ${(err as Error).message}`);
        throw err;
      }
    });
  }

  /** Finish the write in progress, unlock and disconnect (SIGTERM). */
  async resign(): Promise<void> {
    clearInterval(this.timer);
    await this.serial(async () => {
      if (!this.lost) await this.client.query('SELECT pg_advisory_unlock($1, $2)', [LEADER_CLASS, this.key]).catch(() => undefined);
      this.lost ??= new UpshiftError('E_FENCED', 'this replica resigned');
    }).catch(() => undefined);
    await this.client.end().catch(() => undefined);
  }

  private async renew(): Promise<void> {
    await this.serial(async () => {
      if (this.lost) return;
      try {
        const { rowCount } = await this.client.query(
          'UPDATE upshift_leader SET renewed_at = clock_timestamp() WHERE fleet = $1 AND epoch = $2 AND pid = pg_backend_pid()',
          [this.opts.fleet, this.epoch]);
        if (rowCount === 1) this.lastRenew = performance.now();
        else this.lose(`epoch ${this.epoch} is no longer the fleet's`);
      } catch (err) {
        this.lose(`renewal failed: ${(err as Error).message}`);
      }
    }).catch(() => undefined);
  }

  private lose(reason: string): UpshiftError {
    if (!this.lost) {
      this.lost = new UpshiftError('E_FENCED', `no longer the leader of fleet ${this.opts.fleet}: ${reason}`, { details: { epoch: this.epoch } });
      clearInterval(this.timer);
      for (const h of this.lostHandlers.splice(0)) h(this.lost);
    }
    return this.lost;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

/**
 * Bump the fleet's epoch and open its fence-log row, in one transaction. The bump waits for
 * every fenced write of the old epoch still in flight; `prior_writes` is read after it, so
 * it counts every write the old epoch committed (see migration 5).
 */
async function takeEpoch(client: pg.Client, opts: LeaderOptions): Promise<number> {
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ epoch: string }>(
      `INSERT INTO upshift_leader (fleet, epoch, replica, pid, renewed_at, acquired_at)
            VALUES ($1, 1, $2, pg_backend_pid(), clock_timestamp(), clock_timestamp())
       ON CONFLICT (fleet) DO UPDATE SET epoch = upshift_leader.epoch + 1, replica = $2, pid = pg_backend_pid(),
            renewed_at = clock_timestamp(), acquired_at = clock_timestamp()
       RETURNING epoch`, [opts.fleet, opts.replica]);
    const epoch = Number(rows[0]?.epoch);
    await client.query(
      `INSERT INTO upshift_epochs (fleet, epoch, replica, taken_at, prior_writes)
       VALUES ($1, $2::bigint, $3, clock_timestamp(),
               (SELECT writes FROM upshift_epochs WHERE fleet = $1 AND epoch = $2::bigint - 1))`,
      [opts.fleet, epoch, opts.replica]);
    await client.query('COMMIT');
    return epoch;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Every second, or often enough that a healthy leader is never close to the stall timeout. */
function renewEvery(opts: LeaderOptions): number {
  return opts.renewEveryMs ?? Math.min(1000, opts.stallTimeoutMs / 4);
}

function isSessionGone(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  const msg = String((err as Error)?.message ?? '');
  // 57P01 admin_shutdown (pg_terminate_backend), 57P02/57P03, 08xxx connection errors
  return (code !== undefined && (code.startsWith('57P') || code.startsWith('08')))
    || /Connection terminated|not queryable|ECONNRESET|EPIPE/.test(msg);
}
