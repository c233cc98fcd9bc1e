// An OTA test bed: a node (the apply test bed: real git, app dir, health endpoint, hooks)
// and a loopback feed server started by the test on port 0, which logs every request (with
// its Range header) and can misbehave on purpose: cut a transfer short, trickle, redirect,
// send more than announced. Releases are git archives of real commits with real manifests.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../../src/adapters/clock.js';
import { codeHash } from '../../src/adapters/code-hash-files.js';
import { createExec } from '../../src/adapters/exec.js';
import { validateConfig } from '../../src/core/config.js';
import type { ManifestPayload } from '../../src/core/manifest.js';
import { ApplyEngine } from '../../src/node/apply/engine.js';
import { runOtaCheck, type OtaOptions, type OtaOutcome } from '../../src/ota/check.js';
import { toHex } from '../../src/trust/bytes.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { keysetOf } from '../../src/trust/keyset.js';
import { applyBed, type Bed, type Release } from '../node/apply/apply-child.js';

export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export interface ServedFile {
  body: Buffer;
  /** Close the connection after this many bytes of the first whole-file answer. */
  cutAfter?: number;
  /** Send one chunk of `bytes` every `everyMs`. */
  trickle?: { bytes: number; everyMs: number };
  /** Answer with a redirect to this URL. */
  redirect?: string;
  /** Content-Length to claim (default the body's). */
  announce?: number;
  status?: number;
  /** Answer a Range request with the whole file (200), as a server without Range support does. */
  ignoreRange?: boolean;
  /** Delay before answering (the approval timeout). */
  delayMs?: number;
}

export interface FeedServer {
  base: string;
  files: Map<string, ServedFile>;
  log: Array<{ url: string; range: string | null }>;
}

export async function feedServer(t: Tap.Test): Promise<FeedServer> {
  const files = new Map<string, ServedFile>();
  const log: FeedServer['log'] = [];
  const cut = new Set<string>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0] as string;
    log.push({ url: req.url ?? '', range: req.headers.range ?? null });
    const f = files.get(path);
    if (!f) {
      res.statusCode = 404;
      return void res.end('not found');
    }
    const answer = () => {
      if (f.redirect) {
        res.writeHead(302, { location: f.redirect });
        return void res.end();
      }
      const range = f.ignoreRange ? null : /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = range ? Number(range[1]) : 0;
      const body = f.body.subarray(start);
      const headers: Record<string, string> = { 'content-length': String(f.announce ?? body.length), etag: `"${sha256(f.body).slice(0, 16)}"` };
      if (range) headers['content-range'] = `bytes ${start}-${f.body.length - 1}/${f.body.length}`;
      res.writeHead(f.status ?? (range ? 206 : 200), headers);
      if (f.cutAfter !== undefined && !cut.has(path)) {
        cut.add(path);
        res.write(body.subarray(0, f.cutAfter));
        return void setTimeout(() => res.destroy(), 20);
      }
      if (f.trickle) {
        let at = 0;
        const tick = setInterval(() => {
          if (res.destroyed || at >= body.length) {
            clearInterval(tick);
            return void res.end();
          }
          res.write(body.subarray(at, at + (f.trickle as { bytes: number }).bytes));
          at += (f.trickle as { bytes: number }).bytes;
        }, f.trickle.everyMs);
        res.on('close', () => clearInterval(tick));
        return;
      }
      res.end(body);
    };
    if (f.delayMs) setTimeout(answer, f.delayMs);
    else answer();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => new Promise<void>((ok) => {
    server.closeAllConnections();
    server.close(() => ok());
  }));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, files, log };
}

const signer = signerFromSeed(new Uint8Array(32).fill(7));
export const TRUST = { keys: [{ public: toHex(signer.publicKey) }], threshold: 1 };

export interface FeedRelease {
  tag: string;
  manifest: string;
  bundle: Buffer;
  bundleName: string;
  /** Override what the feed says about the bundle. */
  size?: number;
  digest?: string | null;
  /** Asset URL override (absolute). */
  bundleUrl?: string;
}

export interface OtaBed {
  bed: Bed;
  srv: FeedServer;
  /** Commit a release, sign its manifest, archive its tree; not yet in the feed. */
  release(version: string, seq: number, m?: Partial<ManifestPayload>, o?: { healthy?: boolean }): Promise<FeedRelease & { r: Release }>;
  /** Serve these releases as the feed of track testnet (and their assets). */
  serve(releases: FeedRelease[]): void;
  check(opts?: Partial<OtaOptions>, ota?: Record<string, unknown>): Promise<OtaOutcome>;
  archive(commit: string): Buffer;
}

export async function otaBed(t: Tap.Test, o: { app?: Record<string, unknown> } = {}): Promise<OtaBed> {
  const srv = await feedServer(t);
  const bed = await applyBed(t, o);
  const archive = (commit: string) => execFileSync('git', ['archive', '--format=tar.gz', commit], { cwd: bed.repo.dir });
  return {
    bed, srv, archive,
    async release(version, seq, m = {}, r = {}) {
      const rel = await bed.release(version, r);
      const bundle = archive(rel.commit);
      return { r: rel, tag: `testnet-${seq}`, manifest: bed.manifest(rel, seq, m), bundle, bundleName: `${version}-${rel.commit.slice(0, 12)}.tar.gz` };
    },
    serve(releases) {
      const feed = releases.map((x) => {
        srv.files.set(`/testnet/${x.tag}/manifest.json`, { body: Buffer.from(x.manifest) });
        if (!srv.files.has(`/testnet/${x.tag}/${x.bundleName}`)) srv.files.set(`/testnet/${x.tag}/${x.bundleName}`, { body: x.bundle });
        return {
          tag_name: x.tag, name: x.tag, draft: false, prerelease: false, published_at: new Date().toISOString(),
          assets: [
            { name: 'manifest.json', size: x.manifest.length, browser_download_url: `${x.tag}/manifest.json`, digest: `sha256:${sha256(x.manifest)}` },
            {
              name: x.bundleName, size: x.size ?? x.bundle.length, browser_download_url: x.bundleUrl ?? `${x.tag}/${x.bundleName}`,
              digest: x.digest === undefined ? `sha256:${sha256(x.bundle)}` : x.digest,
            },
          ],
        };
      });
      srv.files.set('/testnet/releases.json', { body: Buffer.from(JSON.stringify(feed)) });
    },
    async check(opts = {}, ota = {}) {
      const config = validateConfig({
        fleet: 'edge', state_dir: bed.stateDir, node: { id: 'node-a', tracks: ['testnet'] }, trust: TRUST, app: bed.app,
        ota: { feed: `${srv.base}/{track}/releases.json`, staging_dir: `${bed.stateDir}/ota`, ...ota },
      });
      const store = bed.store();
      const tables = store.journal;
      const keyset = keysetOf(config);
      const engine = new ApplyEngine({
        node: { id: 'node-a', fleet: 'edge', tracks: ['testnet'] }, app: config.app!, stateDir: bed.stateDir, store, tables, keyset,
        exec: createExec(), clock: systemClock, codeHash: (dir) => codeHash(dir),
      });
      return runOtaCheck({ config, store, tables, keyset, engine, clock: systemClock }, { apply: true, ...opts });
    },
  };
}
