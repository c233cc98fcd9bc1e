// Authority replicas (real `upshift daemon` processes) on one real PostgreSQL, for the fault
// tests of issue 13: start a replica with its own environment (failpoints, a held stage) and
// its own database hosts (a proxy), see who leads, and collect every envelope the database
// holds, to check one envelope per (track, seq), the same bytes when re-signed, and the
// fence log (no write of an old epoch committed after a newer epoch was taken).
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { LoopbackFleet, type Daemon } from '../../scripts/demo/fleet.js';
import { freePort } from '../../scripts/demo/ports.js';
import { SAMPLE_PIPELINE, sampleAppFiles } from '../../scripts/demo/sample-app.js';
import { createWorkspace, localSandbox } from '../../scripts/demo/workspace.js';
import { fenceBreaches, type FenceBreach } from '../../src/adapters/postgres/fence-log.js';
import { PAYLOAD_TYPES } from '../../src/core/manifest.js';
import { authorityInfo } from '../../src/runtime/authority-info.js';
import { loadConfig } from '../../src/runtime/config-load.js';
import { serializeEnvelope, signEnvelope } from '../../src/trust/envelope.js';
import { loadKeyFile } from '../../src/trust/keyfile.js';
import { keysetOf, type Keyset } from '../../src/trust/keyset.js';
import { verifyManifest } from '../../src/trust/verify-manifest.js';
import { CLI_PATH, diag, runCli } from './cli.js';
import { gitRepo } from './gitdir.js';
import { startPostgres, type TestPostgres } from './postgres.js';
import { WAIT } from './timeouts.js';
import { tempDir } from './tmp.js';

interface Tap {
  teardown(fn: () => void | Promise<void>): void;
}

export interface Info {
  leader: { replica: string; epoch: number } | null;
  replicas: Array<{ replica: string; leader: boolean; renewed_ago_ms: number }>;
  replication: { synchronous: boolean };
}
export interface RunRow { id: string; version: string; status: string; stage: string }
export interface Exit { code: number | null; signal: NodeJS.Signals | null }
/** Every envelope seen for one (track, seq), and where. */
export type Seen = Map<string, { envelopes: Set<string>; where: string[] }>;

export interface BedOptions {
  /** Default 5s: at 3s a leader starved of CPU (ten test files and two busy loops on 2 cores) was deposed before the fault a test meant to inject. */
  stallTimeout?: string;
  /** Database hosts per replica (default: the server's socket). */
  hosts?: (n: number) => string[];
  /** Options for startPostgres (e.g. TCP). */
  postgres?: Parameters<typeof startPostgres>[1];
  /** Use this server, in a database of the bed's own, instead of starting one: beds side by side. */
  server?: TestPostgres;
  /** Authority settings over the bed's (e.g. a poll that never fires). */
  authority?: Record<string, unknown>;
  /** Change replica n's config before it is written (e.g. give it a tools token). */
  configure?: (config: Record<string, any>, dir: string, n: number) => void;
}

let beds = 0;

export async function replicaBed(t: Tap, opts: BedOptions = {}) {
  const db: TestPostgres = opts.server ?? await startPostgres(t, opts.postgres);
  let database = db.database;
  if (opts.server) {
    database = `bed_${++beds}`;
    const c = await db.client();
    await c.query(`CREATE DATABASE ${database}`);
    await c.end();
  }
  const admin = await db.client(database);
  t.teardown(() => admin.end());
  const root = tempDir(t, 'upshift-replica-bed-');
  chmodSync(root, 0o711); // the build user passes through to each replica's work dir
  const repo = gitRepo(t);
  // stage commands run as the build user: the hold markers' directory must be theirs to write
  const holdDir = join(root, 'hold');
  mkdirSync(holdDir);
  chmodSync(holdDir, 0o777);
  const ws = await createWorkspace(join(root, 'auth-1'), {
    source: repo.dir,
    authority: {
      poll: '* * * * * *', tracks: { testnet: { branch: 'main' } },
      sandbox: localSandbox(['SAMPLE_HOLD', 'SAMPLE_HOLD_MARKER']), canary: { soak: '1s' },
      // one benchmark sample: no test here judges a benchmark, every run pays for each sample
      benchmark: { ...SAMPLE_PIPELINE.benchmark, suites: SAMPLE_PIPELINE.benchmark.suites.map((x) => ({ ...x, repeat: 1 })) },
      ...opts.authority,
    },
  });
  const base = parse(readFileSync(ws.configPath, 'utf8')) as Record<string, any>;
  base.node.tracks = ['testnet'];
  base.log = { level: 'info' };
  const fleet = base.fleet as string;
  const procs = new LoopbackFleet({ dir: root, nodes: 0, cliPath: CLI_PATH, waits: { daemonStart: WAIT.daemonStart, stopGrace: WAIT.stopGrace } });
  const replicas = new Map<number, Daemon>();
  const exits = new Map<Daemon, Promise<Exit>>();
  let keyset: Keyset | undefined;
  t.teardown(async () => {
    await Promise.all([...replicas.values()].map((d) => procs.stopDaemon(d, 'SIGKILL')));
  });

  /** Start (or restart) replica `n` with `env` added to its environment. */
  async function start(n: number, env: Record<string, string> = {}): Promise<Daemon> {
    let d = replicas.get(n);
    if (!d) {
      const dir = join(root, `auth-${n}`);
      if (n > 1) {
        cpSync(join(root, 'auth-1', 'keys'), join(dir, 'keys'), { recursive: true });
        chmodSync(dir, 0o711);
      }
      const port = await freePort();
      const config = structuredClone(base);
      config.gossip = { listen: `127.0.0.1:${port}` };
      config.authority.store = {
        kind: 'postgres', hosts: opts.hosts?.(n) ?? [opts.postgres?.tcp ? `127.0.0.1:${db.port}` : db.host],
        database, user: db.user, stall_timeout: opts.stallTimeout ?? '5s', replica: `auth-${n}`,
      };
      opts.configure?.(config, dir, n);
      writeFileSync(join(dir, 'upshift.yaml'), stringify(config));
      keyset ??= keysetOf(loadConfig(join(dir, 'upshift.yaml')).config);
      d = {
        id: `auth-${n}`, dir, configPath: join(dir, 'upshift.yaml'), stateDir: join(dir, 'state'), url: `http://127.0.0.1:${port}`,
        logPath: join(dir, 'daemon.log'), appPort: null, appDir: null, child: null,
      };
      replicas.set(n, d);
    }
    const started = d;
    // the bed's dir goes with the test: say what the log said
    await procs.startDaemon(d, env).catch((err: Error) => { throw new Error(`${err.message}\n${tail(started)}`); });
    const child = d.child;
    exits.set(d, new Promise((resolve) => {
      if (child?.exitCode !== null || child.signalCode !== null) resolve({ code: child?.exitCode ?? null, signal: child?.signalCode ?? null });
      child?.once('exit', (code, signal) => resolve({ code, signal }));
    }));
    return d;
  }

  /**
   * Start several replicas at once. Start auth-1 alone first: the others copy its keys, and the
   * node key it makes at its first start must be among them (two keys for one node id: E_EXISTS).
   */
  const startAll = (ns: number[], env: Record<string, string> = {}): Promise<Daemon[]> => Promise.all(ns.map((n) => start(n, env)));
  /** Stop every replica still running, at once. */
  const stopAll = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    await Promise.all([...replicas.values()].map((d) => procs.stopDaemon(d, signal)));
  };

  /** `upshift authority status --json`, through the CLI of replica `d`. */
  async function info(d: Daemon): Promise<Info> {
    const r = await runCli(['-c', d.configPath, 'authority', 'status', '--json']);
    if (r.code !== 0) throw new Error(`authority status failed: ${JSON.stringify(diag(r))}`);
    return r.json<Info>();
  }

  /**
   * What `authority status` answers, read with the function it calls on the test's own
   * connection: for polling, where a CLI process per probe would cost a third of a CPU-second.
   */
  const status = async (): Promise<Info> => await authorityInfo(admin, fleet);

  const runs = async (): Promise<RunRow[]> =>
    (await admin.query('SELECT id, version, status, stage FROM runs ORDER BY created_at')).rows as RunRow[];

  /** Every envelope in the database: signed manifests, deployment manifests, what replicas hold for gossip. */
  async function envelopes(): Promise<Seen> {
    const seen: Seen = new Map();
    const add = (track: string, seq: number, envelope: string | null, where: string) => {
      if (!envelope) return;
      const k = `${track}/${seq}`;
      const e = seen.get(k) ?? { envelopes: new Set<string>(), where: [] };
      e.envelopes.add(envelope);
      e.where.push(where);
      seen.set(k, e);
    };
    for (const r of (await admin.query('SELECT track, seq, envelope FROM manifests')).rows) add(r.track, Number(r.seq), r.envelope, 'manifests');
    for (const r of (await admin.query('SELECT track, seq, envelope FROM deployment_manifests')).rows) {
      add(r.track, Number(r.seq), r.envelope, 'deployment_manifests');
    }
    for (const r of (await admin.query("SELECT key, value FROM kv WHERE key LIKE 'gossip.held.%' OR key LIKE 'gossip.manifest.%'")).rows) {
      const list = r.key.startsWith('gossip.held.') ? JSON.parse(r.value) as string[] : [r.value as string];
      for (const env of list) {
        // what a replica holds for gossip verified on arrival: verify it again, it names its (track, seq)
        const { payload } = verifyManifest(env, keyset as Keyset);
        add(payload.track, payload.seq, env, `kv ${r.key}`);
      }
    }
    return seen;
  }

  /** Each stored manifest signed afresh from its reserved payload: the same bytes as stored? */
  async function resignedDiffers(): Promise<string[]> {
    const signer = await loadKeyFile(ws.keyPath);
    const rows = (await admin.query('SELECT track, seq, payload, envelope FROM manifests WHERE envelope IS NOT NULL')).rows;
    return rows.filter((r) => serializeEnvelope(signEnvelope(PAYLOAD_TYPES.manifest, new Uint8Array(r.payload), [signer])) !== r.envelope)
      .map((r) => `${r.track}/${r.seq}`);
  }

  const breaches = (): Promise<FenceBreach[]> => fenceBreaches(admin, fleet);
  const marker = (name: string): string => join(holdDir, name);
  const commit = (version: string): string => repo.commit(version, sampleAppFiles({ version, latencyMs: 10 }));
  const exited = (d: Daemon): Promise<Exit> => exits.get(d) as Promise<Exit>;
  const stop = (d: Daemon, signal: NodeJS.Signals = 'SIGTERM') => procs.stopDaemon(d, signal);
  const tail = (d: Daemon | undefined): string =>
    d && existsSync(d.logPath) ? readFileSync(d.logPath, 'utf8').split('\n').slice(-30).join('\n') : '';
  const log = (d: Daemon): string => (existsSync(d.logPath) ? readFileSync(d.logPath, 'utf8') : '');
  return {
    db, database, admin, fleet, repo, start, startAll, stop, stopAll, info, status, runs, envelopes, resignedDiffers, breaches, marker, commit,
    exited, tail, log, replicas,
  };
}

export type ReplicaBed = Awaited<ReturnType<typeof replicaBed>>;

/** Keys of (track, seq) with more than one distinct envelope. */
export function doubled(seen: Seen): string[] {
  return [...seen].filter(([, e]) => e.envelopes.size !== 1).map(([k]) => k);
}
