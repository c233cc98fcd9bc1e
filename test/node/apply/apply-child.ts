// A node's apply test bed: a real app repository, a real app dir and state dir in temp
// dirs, a real HTTP health endpoint whose answer follows `current/health.txt` (so health
// is a property of the release that is switched in), hook and restart commands that
// record what they were asked, signed manifests from a throwaway key, and the engine both
// in-process and as a real child process (dist/bundle/apply-child.js) for kill -9.
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { systemClock } from '../../../src/adapters/clock.js';
import { codeHash } from '../../../src/adapters/code-hash-files.js';
import { createExec } from '../../../src/adapters/exec.js';
import { NodeTables } from '../../../src/adapters/sqlite/node-tables.js';
import { Store } from '../../../src/adapters/sqlite/store.js';
import { configSchema } from '../../../src/core/config.js';
import type { ManifestPayload } from '../../../src/core/manifest.js';
import { ApplyEngine } from '../../../src/node/apply/engine.js';
import type { ApplyDeps } from '../../../src/node/apply/context.js';
import { toHex } from '../../../src/trust/bytes.js';
import { serializeEnvelope } from '../../../src/trust/envelope.js';
import { signerFromSeed } from '../../../src/trust/keyfile.js';
import { loadKeyset } from '../../../src/trust/keyset.js';
import { signManifest, verifyManifest } from '../../../src/trust/verify-manifest.js';
import { gitRepo, type GitRepo } from '../../helpers/gitdir.js';
import { repoPath } from '../../helpers/paths.js';
import { spawnGroup } from '../../helpers/procs.js';
import { tempDir } from '../../helpers/tmp.js';

export const CHILD_ENTRY = repoPath('dist', 'bundle', 'apply-child.js');
const signer = signerFromSeed(new Uint8Array(32).fill(7));
const trust = { keys: [{ public: toHex(signer.publicKey) }], threshold: 1 };
const NODE = { id: 'node-a', fleet: 'edge', tracks: ['testnet'] };

export interface Release {
  version: string;
  commit: string;
  codeHash: string;
}

export interface Bed {
  repo: GitRepo;
  appDir: string;
  stateDir: string;
  /** Raw `app:` config (durations as text), as upshift.yaml would hold it. */
  app: Record<string, unknown>;
  /** Commit a release of the sample app; `healthy: false` makes its health endpoint answer 500. */
  release(version: string, o?: { healthy?: boolean; files?: Record<string, string> }): Promise<Release>;
  manifest(r: Release, seq: number, o?: Partial<ManifestPayload>): string;
  /** The real engine, behind this node's door: each envelope is verified once, then applied. */
  engine(o?: Partial<ApplyDeps>): TestEngine;
  store(): Store;
  /** Close every store opened so far (before the database files are removed or replaced). */
  closeStores(): void;
  tables(): NodeTables;
  /** `current`'s link target (`releases/<name>`), or null. */
  current(): string | null;
  currentValid(): boolean;
  releases(): string[];
  /** Lines the restart command wrote: `<reason> <release>`. */
  restarts(): string[];
  hooks(): string[];
  child(mode: 'apply' | 'reconcile', envelope?: string, env?: Record<string, string>): Promise<ChildResult>;
}

export interface TestEngine {
  applyManifest(envelope: string): ReturnType<ApplyEngine['applyManifest']>;
  reconcile(): ReturnType<ApplyEngine['reconcile']>;
  startIfDown(): ReturnType<ApplyEngine['startIfDown']>;
  applyStatus(): ReturnType<ApplyEngine['applyStatus']>;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: { ok: boolean; result?: unknown; error?: { code: string; message: string; details?: Record<string, unknown> } } | null;
  stderr: string;
}

export async function applyBed(t: { teardown(fn: () => void | Promise<void>): void }, o: { app?: Record<string, unknown> } = {}): Promise<Bed> {
  const repo = gitRepo(t);
  const root = tempDir(t, 'upshift-node-');
  const appDir = join(root, 'app');
  const stateDir = join(root, 'state');
  const log = (name: string) => join(root, name);

  // Health follows the release `current` points at, read on every request.
  const server = createServer((_req, res) => {
    let body = 'missing';
    try {
      body = readFileSync(join(appDir, 'current', 'health.txt'), 'utf8').trim();
    } catch { /* no current yet */ }
    res.statusCode = body === 'ok' ? 200 : 500;
    res.end(body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => new Promise<void>((ok) => server.close(() => ok())));
  const port = (server.address() as AddressInfo).port;

  const app: Record<string, unknown> = {
    dir: appDir,
    remote: repo.dir,
    install: `echo "install $UPSHIFT_RELEASE $(cat app.txt)" >> ${log('hooks.log')}`,
    migrate: `echo "migrate $UPSHIFT_RELEASE" >> ${log('hooks.log')}`,
    restart: `echo "$UPSHIFT_REASON $UPSHIFT_RELEASE" >> ${log('restarts.log')}`,
    hook_timeout: '20s',
    // 3 s: with two beds side by side this process can miss a 1 s timeout on a loaded machine
    health: { url: `http://127.0.0.1:${port}/healthz`, timeout: '3s', interval: '50ms' },
    healthy_deadline: '1500ms',
    min_healthy: '300ms',
    keep_releases: 3,
    ...o.app,
  };
  const parsedApp = () => configSchema.shape.app.unwrap().parse(app);
  const stores: Store[] = [];
  t.teardown(() => stores.forEach((s) => s.close()));
  const store = () => {
    const s = Store.open(join(stateDir, 'upshift.db'), () => Date.now());
    stores.push(s);
    return s;
  };
  const lines = (file: string) => (existsSync(log(file)) ? readFileSync(log(file), 'utf8').split('\n').filter(Boolean) : []);
  const current = () => {
    try {
      return readlinkSync(join(appDir, 'current'));
    } catch {
      return null;
    }
  };

  return {
    repo, appDir, stateDir, app,
    async release(version, r = {}) {
      const commit = repo.commit(version, { 'app.txt': version, 'health.txt': r.healthy === false ? 'failing' : 'ok', ...r.files });
      // The source work tree is a clean checkout of the commit: the hash the authority would sign.
      return { version, commit, codeHash: (await codeHash(repo.dir)).hash };
    },
    manifest(r, seq, m = {}) {
      const now = Date.now();
      const payload: ManifestPayload = {
        schema: 'upshift.manifest/v1', fleet: NODE.fleet, track: 'testnet', seq, version: r.version, commit: r.commit, code_hash: r.codeHash,
        created_at: new Date(now - 60_000).toISOString(), expires_at: new Date(now + 3_600_000).toISOString(), kind: 'release', targets: 'all',
        evidence: { run_id: `r-${seq}`, test: null, benchmark: null, notes: [] }, ...m,
      };
      return serializeEnvelope(signManifest(payload, [signer]));
    },
    engine(d = {}) {
      const s = store();
      const keyset = loadKeyset(trust);
      const engine = new ApplyEngine({
        node: NODE, app: parsedApp(), stateDir, store: s, tables: s.journal, keyset,
        exec: createExec(), clock: systemClock, codeHash: (dir) => codeHash(dir), ...d,
      });
      return {
        applyManifest: async (envelope) => engine.applyManifest(verifyManifest(envelope, d.keyset ?? keyset)),
        reconcile: () => engine.reconcile(),
        startIfDown: () => engine.startIfDown(),
        applyStatus: () => engine.applyStatus(),
      };
    },
    store,
    closeStores: () => stores.splice(0).forEach((s) => s.close()),
    tables: () => new NodeTables(store().db),
    current,
    currentValid() {
      const c = current();
      return c !== null && existsSync(join(appDir, c)) && existsSync(join(appDir, 'current', 'app.txt'));
    },
    releases: () => (existsSync(join(appDir, 'releases')) ? readdirSync(join(appDir, 'releases')).sort() : []),
    restarts: () => lines('restarts.log'),
    hooks: () => lines('hooks.log'),
    child(mode, envelope, env = {}) {
      if (!existsSync(CHILD_ENTRY)) throw new Error(`${CHILD_ENTRY} is missing: build first with \`npm run build\``);
      const args = JSON.stringify({ mode, stateDir, node: NODE, app, trust, envelope });
      return new Promise((resolve, reject) => {
        const child = spawnGroup(process.execPath, [CHILD_ENTRY, args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (d) => (stdout += d));
        child.stderr!.on('data', (d) => (stderr += d));
        child.on('error', reject);
        child.on('close', (code, signal) => {
          const line = stdout.trim().split('\n').pop();
          resolve({ code, signal, out: line ? (JSON.parse(line) as ChildResult['out']) : null, stderr });
        });
      });
    },
  };
}
