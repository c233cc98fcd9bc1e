// `upshift ota publish` (SPEC "OTA", the authority's side): for each track, the fleet-wide
// releases of completed runs as a GitHub-Releases-shaped feed, each release's signed
// manifest and a bundle of its commit, in a directory any static HTTP server can serve
// (and the daemon serves at /v1/ota/). Layout:
//   DIR/<track>/releases.json            newest first
//   DIR/<track>/<tag>/manifest.json      the DSSE envelope, byte for byte as signed
//   DIR/<track>/<tag>/<version>-<sha12>.tar.gz
// Idempotent: a release already written is left as is; files appear by rename, so a reader
// never sees half of one. A bundle is only published after it was extracted here and its
// tree hashed to the signed code hash (export-ignore attributes or symlinks would not).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Config } from '../core/config.js';
import { bundleAssetName, MANIFEST_ASSET, tagFor } from '../core/decisions/ota-release.js';
import { checkVersionName } from '../core/decisions/acceptance.js';
import { toUpshiftError, UpshiftError } from '../core/errors.js';
import type { ManifestPayload } from '../core/manifest.js';
import { codeHash } from '../adapters/code-hash-files.js';
import { gitEnv } from '../adapters/git-safety.js';
import type { Logger } from '../adapters/logger.js';
import type { StateStore as Store } from '../core/store-ports.js';
import { extractBundle } from '../node/apply/bundle.js';
import type { Keyset } from '../trust/keyset.js';
import { verifyManifest, type VerifiedManifest } from '../trust/verify-manifest.js';

const run = promisify(execFile);

export interface PublishDeps {
  config: Config;
  store: Store;
  keyset: Keyset;
  log?: Pick<Logger, 'info' | 'warn'>;
}

export interface PublishedTrack {
  track: string;
  releases: Array<{ tag: string; seq: number; version: string; added: boolean }>;
  skipped: Array<{ seq: number; version: string; reason: string }>;
}

/** Write (or bring up to date) the feed of every track in `dir`. */
export async function publishFeed(deps: PublishDeps, opts: { dir?: string; baseUrl?: string | null } = {}): Promise<PublishedTrack[]> {
  const { config } = deps;
  const authority = config.authority;
  if (!authority) {
    throw new UpshiftError('E_CONFIG',
      'ota publish runs on the authority (the config has no `authority:` section)',
    );
  }
  const dir = opts.dir ?? config.ota.publish.dir;
  if (!dir) throw new UpshiftError('E_USAGE', 'where to publish: pass --out DIR or set ota.publish.dir');
  const baseUrl = opts.baseUrl === undefined ? config.ota.publish.base_url : opts.baseUrl;
  const out: PublishedTrack[] = [];
  for (const [track, spec] of Object.entries(authority.tracks)) {
    const base = baseUrl ? `${baseUrl.replace(/\/+$/, '')}/${track}/` : null;
    out.push(await publishTrack(deps, join(dir, track), track, 'branch' in spec ? 'seq' : 'semver', base));
  }
  return out;
}

async function publishTrack(
  deps: PublishDeps, dir: string, track: string, order: 'seq' | 'semver', base: string | null,
): Promise<PublishedTrack> {
  const { store, keyset, config } = deps;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const result: PublishedTrack = { track, releases: [], skipped: [] };
  // Per completed run, its fleet-wide release with the highest seq (a deploy manifest after a canary supersedes SIGN's).
  const byRun = new Map<string, { payload: ManifestPayload; text: string }>();
  for (const rec of await store.manifests.list(track)) {
    if (rec.envelope === null || rec.kind !== 'release') continue;
    const run = await store.getRun(rec.runId);
    if (run?.status !== 'completed') continue;
    let m: VerifiedManifest;
    try {
      m = verifyManifest(rec.envelope, keyset); // signed under an older keyset: nodes would refuse it
    } catch (err) {
      result.skipped.push({ seq: rec.seq, version: rec.version, reason: `${toUpshiftError(err).code}: no longer verifies` });
      continue;
    }
    if (m.payload.targets !== 'all' || m.payload.fleet !== config.fleet) continue;
    const had = byRun.get(rec.runId);
    if (!had || had.payload.seq < m.payload.seq) byRun.set(rec.runId, { payload: m.payload, text: m.text });
  }
  const entries: Array<Record<string, unknown> & { seq: number }> = [];
  for (const { payload: p, text } of [...byRun.values()].sort((a, b) => b.payload.seq - a.payload.seq)) {
    const tag = tagFor(p, order);
    try {
      checkVersionName(tag);
      const relDir = join(dir, tag);
      const added = !existsSync(join(relDir, MANIFEST_ASSET));
      if (added) await writeRelease(deps, relDir, p, text);
      entries.push({ seq: p.seq, ...feedEntry(relDir, tag, p, base) });
      result.releases.push({ tag, seq: p.seq, version: p.version, added });
    } catch (err) {
      const e = toUpshiftError(err);
      result.skipped.push({ seq: p.seq, version: p.version, reason: `${e.code}: ${e.message}` });
      deps.log?.warn({ module: 'ota', track, seq: p.seq, code: e.code }, `not published: ${e.message}`);
    }
  }
  atomicWrite(join(dir, 'releases.json'), `${JSON.stringify(entries.map(({ seq: _seq, ...e }) => e), null, 2)}\n`);
  return result;
}

/** The bundle first (checked), the manifest last: a release dir with a manifest is complete. */
async function writeRelease(deps: PublishDeps, relDir: string, p: ManifestPayload, text: string): Promise<void> {
  mkdirSync(relDir, { recursive: true, mode: 0o755 });
  const name = bundleAssetName(p.version, p.commit);
  const tmp = mkdtempSync(join(relDir, '.publish-'));
  try {
    const tarball = join(tmp, name);
    const mirror = join(deps.config.state_dir, 'source.git');
    try {
      // the same guards as every git call here: no hooks, no global or system config
      const safe = ['-c', 'core.hooksPath=/dev/null', '-c', 'core.attributesFile=/dev/null'];
      await run('git', [...safe, 'archive', '--format=tar.gz', '-o', tarball, p.commit], {
        cwd: mirror, env: gitEnv(),
      });
    } catch (err) {
      throw new UpshiftError('E_GIT',
        `git archive of ${p.commit} in ${mirror} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const tree = join(tmp, 'tree');
    const { bundles } = deps.config.app ?? { bundles: { max_unpacked_bytes: 2 * 1024 ** 3, max_entries: 100_000 } };
    await extractBundle(tarball, tree, { maxUnpackedBytes: bundles.max_unpacked_bytes, maxEntries: bundles.max_entries });
    const { hash } = await codeHash(tree);
    if (hash !== p.code_hash) {
      throw new UpshiftError('E_BAD_VERSION',
        `the bundle of ${p.version} hashes to ${hash}, the signed manifest says ${p.code_hash} (export-ignore or export-subst attributes?)`,
      );
    }
    renameSync(tarball, join(relDir, name));
    atomicWrite(join(relDir, MANIFEST_ASSET), text);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** One release in the GitHub Releases API shape. */
function feedEntry(relDir: string, tag: string, p: ManifestPayload, base: string | null): Record<string, unknown> {
  const asset = (name: string, type: string) => {
    const { size, digest } = assetFacts(relDir, name);
    const url = `${base ?? ''}${encodeURIComponent(tag)}/${encodeURIComponent(name)}`;
    return { name, size, content_type: type, digest, browser_download_url: url };
  };
  return {
    id: p.seq, tag_name: tag, name: `${p.track}#${p.seq} ${p.version}`, draft: false, prerelease: false,
    created_at: p.created_at, published_at: p.created_at, target_commitish: p.commit,
    body: `${p.kind} ${p.version} (${p.commit}), seq ${p.seq}, expires ${p.expires_at}`,
    assets: [asset(MANIFEST_ASSET, 'application/json'), asset(bundleAssetName(p.version, p.commit), 'application/gzip')],
  };
}

// Size and digest of each asset, kept beside it (a dot file the /v1/ota/ route never serves)
// so that a pass every few minutes does not hash every bundle ever published again.
const FACTS = '.assets.json';

function assetFacts(relDir: string, name: string): { size: number; digest: string } {
  let facts: Record<string, { size: number; digest: string }> = {};
  try {
    facts = JSON.parse(readFileSync(join(relDir, FACTS), 'utf8')) as typeof facts;
  } catch {
    // absent or unreadable: computed below and written again
  }
  const file = join(relDir, name);
  const size = statSync(file).size;
  const known = facts[name];
  if (known && known.size === size) return known;
  const fresh = { size, digest: `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}` };
  atomicWrite(join(relDir, FACTS), JSON.stringify({ ...facts, [name]: fresh }));
  return fresh;
}

function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path);
}
