// Where a release's files come from (SPEC step 2), apart from the one engine that applies
// them: the pinned commit from app.remote, a bundle on an allowed URL, and later a local
// file the OTA check downloaded, or a peer. Each fills a fresh release dir; the engine then
// checks the tree's code hash against the signed manifest whatever the source was.
import type { AppConfig } from '../../core/config.js';
import type { VerifiedManifest } from '../../trust/verify-manifest.js';
import { BundleContentError, bundleUrlAllowed, extractBundle, fetchBundle } from './bundle.js';
import { ApplyFailure, type ApplyLog } from './context.js';
import { fetchRelease } from './release-dir.js';

export interface ReleaseSource {
  /** For the journal and logs: where the files come from. */
  readonly describe: string;
  /**
   * False when the bytes are not bound by the signature (an OTA bundle checked against the
   * unsigned feed): a tree whose code hash differs is then refused without marking the
   * version bad, or whoever serves the feed could get good versions marked bad.
   */
  readonly signedBytes?: boolean;
  /** Fill `dir` (absent beforehand) with the release's files. */
  fetch(dir: string, signal?: AbortSignal): Promise<void>;
}

/** The pinned commit from the app's remote: full SHA, hooks and submodules off, HEAD checked. */
export function gitSource(remote: string, commit: string): ReleaseSource {
  return {
    describe: `commit ${commit} from app.remote`,
    fetch: (dir, signal) => fetchRelease({ remote, commit, dir, ...(signal ? { signal } : {}) }),
  };
}

/** The manifest's bundle: downloaded, length and sha256 checked, every entry pre-scanned. */
export function bundleSource(bundle: NonNullable<VerifiedManifest['payload']['bundle']>, cfg: AppConfig['bundles']): ReleaseSource {
  const limits = { maxBytes: cfg.max_bytes, maxUnpackedBytes: cfg.max_unpacked_bytes, maxEntries: cfg.max_entries };
  return {
    describe: `bundle ${bundle.url}`,
    async fetch(dir, signal) {
      try {
        await fetchBundle({ ...bundle, dir, allow: cfg.allow, ...limits, timeoutMs: cfg.timeout, ...(signal ? { signal } : {}) });
      } catch (err) {
        // The signed bytes themselves are refused: every retry would fail the same way.
        if (err instanceof BundleContentError) throw new ApplyFailure(err.code, err.message, true);
        throw err;
      }
    },
  };
}

/**
 * A tarball already downloaded and checked by the caller (the OTA check: length and sha256
 * against the signed manifest or the feed). Pre-scanned and extracted like a downloaded
 * bundle; the engine then checks the tree's code hash against the signed manifest.
 */
export function localBundleSource(file: string, cfg: AppConfig['bundles'], signedBytes: boolean): ReleaseSource {
  return {
    describe: `bundle ${file} (downloaded by the OTA check)`,
    signedBytes,
    async fetch(dir, signal) {
      try {
        await extractBundle(file, dir, { maxUnpackedBytes: cfg.max_unpacked_bytes, maxEntries: cfg.max_entries, ...(signal ? { signal } : {}) });
      } catch (err) {
        if (err instanceof BundleContentError) throw new ApplyFailure(err.code, err.message, signedBytes);
        throw err;
      }
    },
  };
}

/** The bundle when the manifest names one on an allowed URL, else the pinned commit. */
export function releaseSourceFor(m: VerifiedManifest, app: AppConfig, log?: ApplyLog): ReleaseSource {
  const bundle = m.payload.bundle;
  if (bundle && bundleUrlAllowed(bundle.url, app.bundles.allow)) return bundleSource(bundle, app.bundles);
  if (bundle) log?.warn({ module: 'apply', url: bundle.url }, 'the bundle URL is not in app.bundles.allow; fetching the pinned commit from app.remote instead');
  return gitSource(app.remote, m.payload.commit);
}
