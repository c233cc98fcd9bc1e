// Parts of the loopback fleet benchmark: read the nodes' apply journals, read a daemon's memory, seed a peer
// table, and the plain `git fetch && git checkout && restart` script it is compared with.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/adapters/sqlite/db.js';
import { NodeTables, type ApplyRecord } from '../../src/adapters/sqlite/node-tables.js';
import { APP_CTL, APP_CTL_FILE } from '../demo/app-ctl.js';
import { sleep, type Daemon } from '../demo/fleet.js';
import { freePort } from '../demo/ports.js';
import { probeHealth } from '../../src/node/apply/probe.js';
import { openStore } from '../../src/runtime/deps.js';
import { round1, sh, timeOnce } from './util.js';

export function acceptedAt(authority: Daemon, seq: number): number {
  for (const line of readFileSync(authority.logPath, 'utf8').split('\n')) {
    if (!line.includes('manifest accepted')) continue;
    const entry = JSON.parse(line) as { msg?: string; seq?: number; time?: string };
    if (entry.msg === 'manifest accepted' && entry.seq === seq && entry.time) return Date.parse(entry.time);
  }
  throw new Error(`the authority never logged 'manifest accepted' for seq ${seq}; see ${authority.logPath}`);
}

export interface NodeApply {
  node: string;
  apply: ApplyRecord;
  /** The journal's step times, by state (the first time each state was entered). */
  at: Partial<Record<string, number>>;
}

/** The nodes' apply journals, read-only, beside the running daemons. */
export class Journals {
  private readonly dbs = new Map<string, Db>();

  constructor(nodes: readonly Daemon[]) {
    for (const n of nodes) this.dbs.set(n.id, openDb(join(n.stateDir, 'upshift.db'), { now: () => Date.now(), readonly: true }));
  }

  /** Resolves when every node named has finished its apply of `seq`; throws unless all confirmed. */
  async waitFor(ids: readonly string[], seq: number, timeoutMs: number): Promise<NodeApply[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const latest = ids.map((id) => ({ id, apply: this.latest(id) }));
      const pending = latest.filter(({ apply }) => apply?.seq !== seq || apply.finishedAt === null);
      if (pending.length === 0) {
        const bad = latest.filter(({ apply }) => apply?.state !== 'confirmed');
        if (bad.length > 0) throw new Error(`seq ${seq} not confirmed on ${bad.map(({ id, apply }) => `${id} (${apply?.state}: ${apply?.reason})`).join(', ')}`);
        return latest.map(({ id, apply }) => ({ node: id, apply: apply as ApplyRecord, at: this.stepTimes(id, (apply as ApplyRecord).id) }));
      }
      if (Date.now() > until) throw new Error(`seq ${seq} unfinished after ${timeoutMs} ms on ${pending.map(({ id, apply }) => `${id} (${apply?.seq === seq ? apply.state : 'not started'})`).join(', ')}`);
      await sleep(100);
    }
  }

  close(): void {
    for (const db of this.dbs.values()) db.close();
    this.dbs.clear();
  }

  private latest(id: string): ApplyRecord | null {
    return new NodeTables(this.db(id)).latestPerTrack().find((a) => a.track === 'testnet') ?? null;
  }

  private stepTimes(id: string, applyId: number): Partial<Record<string, number>> {
    const at: Partial<Record<string, number>> = {};
    for (const s of new NodeTables(this.db(id)).steps(applyId)) at[s.state] ??= s.at;
    return at;
  }

  private db(id: string): Db {
    const db = this.dbs.get(id);
    if (!db) throw new Error(`no journal opened for ${id}`);
    return db;
  }
}

/** Resident memory of a process, from /proc (Linux). */
export function rssMbOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return round1(Number(kb) / 1024);
}

/**
 * Fill a stopped daemon's peer table up to `total` peers (itself not counted) with peers
 * at 127.0.0.1 ports nobody listens on; the agent loads the table when it starts.
 */
export async function seedUnreachablePeers(d: Daemon, total: number): Promise<{ reachable: number; unreachable: number }> {
  const store = openStore(d.stateDir);
  try {
    const reachable = (await store.identity.peers()).filter((p) => p.nodeId !== d.id).length;
    const now = Date.now();
    for (let i = reachable; i < total; i++) {
      const url = `http://127.0.0.1:${await freePort()}`;
      await store.identity.upsertPeers([{ nodeId: `unreachable-${i}`, url, cert: null, labels: {}, state: 'alive', lastSeen: now, heartbeat: null }]);
    }
    return { reachable, unreachable: Math.max(0, total - reachable) };
  } finally {
    store.close();
  }
}

/**
 * The plain way to ship a version: a clone the app runs from, upgraded in place with
 * `git fetch && git checkout && restart` (the nodes' own app-ctl restart), then /healthz
 * probed every `intervalMs` until it answers, as a deploy script would wait.
 */
export class PlainScript {
  private readonly clone: string;
  private readonly ctl: string;
  private port = 0;

  constructor(private readonly dir: string, private readonly remote: string, private readonly intervalMs: number) {
    this.clone = join(dir, 'app', 'current');
    this.ctl = join(dir, APP_CTL_FILE);
  }

  /** Clone the branch and start its app (untimed). */
  async start(branch: string): Promise<void> {
    mkdirSync(join(this.dir, 'app'), { recursive: true });
    writeFileSync(this.ctl, APP_CTL);
    this.port = await freePort();
    execFileSync('git', ['clone', '-q', '--branch', branch, this.remote, this.clone], { stdio: 'pipe' });
    await sh(this.restart(), this.clone);
    await this.healthy(100);
  }

  /** Wall time of one upgrade to `commit`, until /healthz answers. */
  upgrade(commit: string): Promise<number> {
    return timeOnce(async () => {
      await sh(`git fetch -q '${this.remote}' ${commit} && git checkout -q ${commit} && ${this.restart()}`, this.clone);
      await this.healthy(this.intervalMs);
    });
  }

  stop(): void {
    try {
      execFileSync('sh', [this.ctl, 'stop', join(this.dir, 'app')], { stdio: 'ignore' });
    } catch {
      // never started
    }
  }

  private restart(): string {
    return `sh '${this.ctl}' restart '${join(this.dir, 'app')}' ${this.port}`;
  }

  private async healthy(intervalMs: number): Promise<void> {
    const until = Date.now() + 10_000;
    for (;;) {
      const r = await probeHealth(`http://127.0.0.1:${this.port}/healthz`, 1000);
      if (r.ok) return;
      if (Date.now() > until) throw new Error(`plain script: app not healthy within 10 s (${r.detail})`);
      await sleep(intervalMs);
    }
  }
}
