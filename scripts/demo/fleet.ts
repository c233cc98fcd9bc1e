// A fleet on loopback: an authority daemon and N node daemons on 127.0.0.1 ports, each
// with its own config, keys, state dir and app dir, joined with real one-time tokens, and
// a sample app repository they all fetch from. Used by `npm run demo`, the end-to-end
// tests and the fleet benchmark. Every daemon is a real `upshift daemon` child process, and
// every node joins with a real `upshift join` process; its one-time token is minted here,
// by the service `upshift fleet token` calls (join-tokens.ts).
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { APP_CTL, APP_CTL_FILE } from './app-ctl.js';
import { joinTokens } from './join-tokens.js';
import { freePort } from './ports.js';
import { exited, spawnGroup, stopGroup } from './procs.js';
import { toHex } from '../../src/trust/bytes.js';
import { generateKeyFile } from '../../src/trust/keyfile.js';
import { packageRoot } from '../../src/cli/version.js';
import { SAMPLE_PIPELINE, sampleAppFiles, type SampleKnobs } from './sample-app.js';
import { letBuildUserThrough, localSandbox } from './workspace.js';

export interface FleetOptions {
  /** An empty directory that holds everything. */
  dir: string;
  nodes: number;
  /** Labels region=<regions[i % n]> per node (default eu, us). */
  regions?: string[];
  /** Merged into the authority section (canary, deploy, poll, ...). */
  authority?: Record<string, unknown>;
  /** Merged into every node's app section (`health` key by key). */
  app?: Record<string, unknown>;
  /** The authority's `http` section (e.g. tools_token_file, relative to its directory). */
  http?: Record<string, unknown>;
  /** Merged into every daemon's gossip section. */
  gossip?: Record<string, unknown>;
  /** Every daemon's `channel` section (e.g. NATS); absent: gossip alone. */
  channel?: Record<string, unknown>;
  /** The built CLI (dist/src/cli/main.js); found from this module by default. */
  cliPath?: string;
  /** How long a daemon may take to answer /healthz after it is started (default 20 s; a busy machine needs more). */
  startTimeoutMs?: number;
  /** Extra environment for the node daemons (failpoints, say). */
  nodeEnv?: (id: string) => Record<string, string>;
  /** How long a daemon may take to answer /healthz, and to exit on SIGTERM (ms). */
  waits?: { daemonStart: number; stopGrace: number };
  /** Blue-green nodes: the app's port becomes the proxy's listen, two more ports are its slots. */
  blueGreen?: { drain: string };
}

export interface Daemon {
  id: string;
  dir: string;
  configPath: string;
  stateDir: string;
  /** Gossip and HTTP address. */
  url: string;
  logPath: string;
  /** The sample app's port and release dir (nodes only). */
  appPort: number | null;
  appDir: string | null;
  child: ChildProcess | null;
}

/** Defaults that make a demo fleet move in seconds rather than minutes. */
const FAST_AUTHORITY = {
  poll: '*/2 * * * * *',
  canary: { fraction: 0.25, soak: '8s', check_every: '1s', heartbeat_timeout: '10s', labels: ['region'] },
  deploy: { progress_deadline: '90s' },
  // all at once, with the probation the nodes below are configured with (issue 12: the manifest carries these)
  deployments: { testnet: { max_parallel: '100%', min_healthy: '1s', healthy_deadline: '6s' } },
};
const JOIN_BATCH = 4;
const execFileAsync = promisify(execFile);
const FAST_GOSSIP = { interval: '500ms', anti_entropy: '3s', suspect_after: '5s', dead_after: '20s', report_every: '1s' };

export function defaultCliPath(): string {
  // from the bundle (`upshift demo`), dist/scripts/demo/fleet.js and the sources alike
  return join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
}

export class LoopbackFleet {
  readonly repoDir: string;
  authority!: Daemon;
  readonly nodes: Daemon[] = [];
  /** The fleet's release public key (hex): every daemon's trust anchor. */
  publicKey = '';
  private readonly cli: string;
  private readonly waits: { daemonStart: number; stopGrace: number };

  constructor(readonly opts: FleetOptions) {
    this.repoDir = join(opts.dir, 'app-source');
    this.cli = opts.cliPath ?? defaultCliPath();
    this.waits = opts.waits ?? { daemonStart: 20_000, stopGrace: 25_000 };
  }

  /** The repository, the authority (started) and every node (joined and started). */
  async start(): Promise<void> {
    mkdirSync(this.repoDir, { recursive: true });
    execFileSync('git', ['init', '-q', '-b', 'main', this.repoDir]);
    this.authority = await this.startAuthority();
    const ids = Array.from({ length: this.opts.nodes }, (_, i) => `node-${i + 1}`);
    const tokens = await joinTokens(this.authority.configPath, ids.map((id, i) => ({ id, region: this.region(i) })));
    // a few at a time: each join is a CLI process and a daemon start
    for (let i = 0; i < this.opts.nodes; i += JOIN_BATCH) {
      const batch = ids.slice(i, i + JOIN_BATCH).map((id, k) => this.addNode(id, i + k, tokens[i + k] as string));
      this.nodes.push(...(await Promise.all(batch)));
    }
  }

  /** One more node after start(): joined with a fresh token, seeded with the authority, started. */
  async join(id: string): Promise<Daemon> {
    const index = this.nodes.length;
    const [token] = await joinTokens(this.authority.configPath, [{ id, region: this.region(index) }]);
    const d = await this.addNode(id, index, token as string);
    this.nodes.push(d);
    return d;
  }

  /** Commit a sample app version to main; returns the commit id. */
  commit(knobs: SampleKnobs): string {
    for (const [path, content] of Object.entries(sampleAppFiles(knobs))) writeFileSync(join(this.repoDir, path), content);
    this.git('add', '-A');
    this.git('commit', '-q', '--allow-empty', '-m', `sample app ${knobs.version}`);
    return this.git('rev-parse', 'HEAD').trim();
  }

  /** Run the CLI with a daemon's config; stdout, or rejects with stderr. */
  async run(d: Daemon, args: string[]): Promise<string> {
    const { stdout } = await execFileAsync(process.execPath, [this.cli, '--config', d.configPath, ...args], { encoding: 'utf8' });
    return stdout;
  }

  /** Start (or restart) a daemon's process and wait for its /healthz. */
  async startDaemon(d: Daemon, env: Record<string, string> = {}): Promise<void> {
    const log = openSync(d.logPath, 'a');
    d.child = spawnGroup(process.execPath, [this.cli, '--config', d.configPath, 'daemon'], { stdio: ['ignore', log, log], env });
    closeSync(log);
    const child = d.child;
    const timeout = this.opts.startTimeoutMs ?? this.waits.daemonStart;
    const until = Date.now() + timeout;
    while (Date.now() < until) {
      if (exited(child)) throw new Error(`daemon ${d.id} exited (${child.exitCode ?? child.signalCode}); see ${d.logPath}`);
      try {
        if ((await fetch(`${d.url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    // not left running: the caller never learns of a daemon whose start failed
    await this.stopDaemon(d);
    throw new Error(`daemon ${d.id} did not answer /healthz within ${timeout / 1000} s; see ${d.logPath}`);
  }

  /** SIGTERM (or the given signal) to the daemon's process group, and wait for it to end. */
  async stopDaemon(d: Daemon, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (d.child) await stopGroup(d.child, signal, this.waits.stopGrace);
  }

  /** Every daemon stopped, every sample app stopped. The directory is the caller's. */
  async stop(): Promise<void> {
    await Promise.all([...this.nodes, this.authority].filter(Boolean).map((d) => this.stopDaemon(d)));
    for (const n of this.nodes) {
      if (n.appDir && existsSync(join(n.dir, APP_CTL_FILE))) {
        try {
          execFileSync('sh', [join(n.dir, APP_CTL_FILE), 'stop', n.appDir], { stdio: 'ignore' });
        } catch {
          // already gone
        }
      }
    }
  }

  private async startAuthority(): Promise<Daemon> {
    const dir = join(this.opts.dir, 'authority');
    const port = await freePort();
    mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
    for (const d of [this.opts.dir, dir]) letBuildUserThrough(d);
    this.publicKey = toHex((await generateKeyFile(join(dir, 'keys', 'release.key'))).publicKey);
    const url = `http://127.0.0.1:${port}`;
    const config = {
      fleet: 'demo',
      state_dir: 'state',
      // the authority runs the pipeline and gossips; it runs no app itself
      node: { id: 'authority', labels: { region: 'core' }, tracks: ['testnet'] },
      trust: { keys: [{ public: this.publicKey }], threshold: 1 },
      authority: {
        source: this.repoDir,
        signing_keys: ['keys/release.key'],
        tracks: { testnet: { branch: 'main' } },
        ...SAMPLE_PIPELINE,
        sandbox: localSandbox(),
        ...FAST_AUTHORITY,
        ...(this.opts.authority ?? {}),
      },
      gossip: { listen: `127.0.0.1:${port}`, ...FAST_GOSSIP, ...(this.opts.gossip ?? {}) },
      ...(this.opts.channel ? { channel: this.opts.channel } : {}),
      ...(this.opts.http ? { http: this.opts.http } : {}),
      log: { level: 'info' },
    };
    const configPath = join(dir, 'upshift.yaml');
    writeFileSync(configPath, stringify(config));
    const d: Daemon = { id: 'authority', dir, configPath, stateDir: join(dir, 'state'), url, logPath: join(dir, 'daemon.log'), appPort: null, appDir: null, child: null };
    await this.startDaemon(d);
    return d;
  }

  private region(index: number): string {
    const regions = this.opts.regions ?? ['eu', 'us'];
    return regions[index % regions.length] as string;
  }

  private async addNode(id: string, index: number, token: string): Promise<Daemon> {
    const dir = join(this.opts.dir, id);
    mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
    const [port, appPort] = [await freePort(), await freePort()];
    const appDir = join(dir, 'app');
    const region = this.region(index);
    writeFileSync(join(dir, APP_CTL_FILE), APP_CTL);
    const blueGreen = this.opts.blueGreen && {
      listen: `127.0.0.1:${appPort}`, ports: [await freePort(), await freePort()], drain: this.opts.blueGreen.drain,
      stop: `sh ${join(dir, APP_CTL_FILE)} stop ${appDir}`,
    };
    const config = {
      fleet: 'demo',
      state_dir: 'state',
      node: { id, labels: { region }, tracks: ['testnet'] },
      trust: { keys: [{ public: this.publicKey }], threshold: 1 },
      app: {
        dir: 'app',
        remote: this.repoDir,
        restart: `sh ${join(dir, APP_CTL_FILE)} restart ${appDir} ${appPort}`,
        metrics: { url: `http://127.0.0.1:${appPort}/metrics`, errors: 'app_errors_total', requests: 'app_requests_total', window: '5s' },
        healthy_deadline: '6s',
        min_healthy: '1s',
        attest_every: '1s',
        hook_timeout: '30s',
        ...(this.opts.app ?? {}),
        // per node (its URL), so merged rather than replaced: `app: { health: { interval } }` works;
        // 3 s: on a loaded machine a tiny app can take over 1 s to answer, and a failed probe fails a canary
        health: { url: `http://127.0.0.1:${appPort}/healthz`, timeout: '3s', interval: '500ms', ...(this.opts.app?.health ?? {}) },
        ...(blueGreen ? { blue_green: blueGreen } : {}),
      },
      gossip: { listen: `127.0.0.1:${port}`, seeds: [this.authority.url], ...FAST_GOSSIP, ...(this.opts.gossip ?? {}) },
      ...(this.opts.channel ? { channel: this.opts.channel } : {}),
      log: { level: 'info' },
    };
    const configPath = join(dir, 'upshift.yaml');
    writeFileSync(configPath, stringify(config));
    const d: Daemon = { id, dir, configPath, stateDir: join(dir, 'state'), url: `http://127.0.0.1:${port}`, logPath: join(dir, 'daemon.log'), appPort, appDir, child: null };
    const joined = await this.run(d, ['join', '--authority', this.authority.url, '--token', token]);
    // join exits 0 and writes nothing when commander reads its arguments as --version (a token
    // starting with "-V" did, once in a suite run, before tokens stopped starting with "-")
    if (!existsSync(join(dir, 'keys', 'node.key')) || !existsSync(join(dir, 'keys', 'node.cert'))) {
      throw new Error(`join of ${id} exited 0 but left no node key or certificate in ${join(dir, 'keys')}; it printed: ${joined}`);
    }
    await this.startDaemon(d, this.opts.nodeEnv?.(id) ?? {});
    return d;
  }

  private git(...args: string[]): string {
    return execFileSync('git', ['-c', 'user.name=upshift demo', '-c', 'user.email=demo@upshift.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd: this.repoDir, encoding: 'utf8', stdio: 'pipe' });
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
