// A release's two assets for the OTA check: its manifest, verified at the one door and by
// the acceptance rules, and its bundle, downloaded into the staging dir, checked against the
// signed manifest (or, when that names no bundle, the feed's size and digest) and pre-scanned.
import { join } from 'node:path';
import type { Config } from '../core/config.js';
import { acceptForApply } from '../core/decisions/acceptance.js';
import { bundleAssetName, MANIFEST_ASSET } from '../core/decisions/ota-release.js';
import { UpshiftError } from '../core/errors.js';
import type { ManifestPayload } from '../core/manifest.js';
import { scanBundle } from '../node/apply/bundle.js';
import { verifyManifest, type VerifiedManifest } from '../trust/verify-manifest.js';
import type { OtaDeps, OtaOptions, OtaOutcome } from './types.js';
import { downloadFile, fetchText, type HttpPolicy } from './download.js';
import { assetUrl, type Release } from './feed.js';
import { copyLocalAsset, readLocalAsset } from './local-asset.js';

const asset = (r: Release, name: string) => {
  const found = r.assets.filter((a) => a.name === name);
  if (found.length !== 1) {
    throw new UpshiftError('E_OTA_ASSET',
      `release ${r.tag_name} has ${found.length === 0 ? 'no' : 'more than one'} asset named ${name}`,
    );
  }
  return found[0] as Release['assets'][number];
};

const MAX_MANIFEST_BYTES = 1024 * 1024;

/** The one verification (signature and keyset), then the acceptance rules for this node and track. */
export async function verifiedManifestOf(
  deps: OtaDeps, r: Release, base: string, policy: HttpPolicy, track: string, floorSeq: number | null,
): Promise<VerifiedManifest> {
  const a = asset(r, MANIFEST_ASSET);
  const url = assetUrl(a, base, deps.config.ota.allow);
  const text = url.startsWith('file:')
    ? await readLocalAsset(url, MAX_MANIFEST_BYTES)
    : (await fetchText(url, MAX_MANIFEST_BYTES, policy, 'E_DOWNLOAD_TOO_LARGE')).text;
  const m = verifyManifest(text, deps.keyset);
  const p = m.payload;
  if (p.track !== track) {
    throw new UpshiftError('E_WRONG_TRACK',
      `release ${r.tag_name} is for track "${p.track}", this check is for "${track}"`,
    );
  }
  const { config } = deps;
  const verdict = acceptForApply(p, {
    now: deps.clock.now(), limits: deps.keyset.limits, floorSeq,
    node: { id: config.node.id, fleet: config.fleet, tracks: config.node.tracks },
    badMark: await deps.tables.badMark(p.track, p.commit, p.version),
  });
  if (verdict === 'same') {
    throw new UpshiftError('E_ROLLBACK',
      `release ${r.tag_name} is ${p.track}#${p.seq}, which this node already runs (its floor): not newer`,
      { details: { seq: p.seq, floor: floorSeq } },
    );
  }
  return m;
}

/** Length and sha256 from the signed manifest when it names a bundle, else from the feed's asset; then the pre-scan. */
export async function downloadBundle(
  deps: OtaDeps, r: Release, p: ManifestPayload, base: string, policy: HttpPolicy, staging: string, opts: OtaOptions, out: OtaOutcome,
): Promise<string> {
  const app = deps.config.app as NonNullable<Config['app']>;
  const a = asset(r, bundleAssetName(p.version, p.commit));
  const digest = /^sha256:([0-9a-f]{64})$/.exec(a.digest ?? '')?.[1];
  const length = p.bundle?.length ?? a.size;
  const sha256 = p.bundle?.sha256 ?? digest;
  if (sha256 === undefined) {
    throw new UpshiftError('E_OTA_ASSET',
      `asset ${a.name} has no sha256 digest and the manifest names no bundle: nothing to check it against`,
    );
  }
  if (p.bundle && (a.size !== p.bundle.length || (digest !== undefined && digest !== p.bundle.sha256))) {
    throw new UpshiftError('E_CHECKSUM',
      `asset ${a.name} is announced as ${a.size} bytes (${a.digest ?? 'no digest'}), the signed manifest says ${p.bundle.length} bytes, sha256 ${p.bundle.sha256}`,
    );
  }
  if (length > app.bundles.max_bytes || length < 1) {
    throw new UpshiftError('E_DOWNLOAD_TOO_LARGE',
      `asset ${a.name} is ${length} bytes, over app.bundles.max_bytes (${app.bundles.max_bytes})`,
      { details: { length, max: app.bundles.max_bytes } },
    );
  }
  const url = assetUrl(a, base, deps.config.ota.allow);
  const dest = join(staging, a.name);
  const { ota } = deps.config;
  let resumes = 0;
  if (url.startsWith('file:')) await copyLocalAsset(url, dest, length, sha256);
  else {
    ({ resumes } = await downloadFile({
      url, dest, length, sha256, minRate: ota.min_rate, rateWindowMs: ota.rate_window, resumeAttempts: ota.resume_attempts,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      onResume: (at, why) => deps.log?.warn({ module: 'ota', asset: a.name, at }, `transfer interrupted (${why}); resuming at byte ${at}`),
    }, policy));
  }
  out.download = { bytes: length, resumes };
  await scanBundle(dest, { maxUnpackedBytes: app.bundles.max_unpacked_bytes, maxEntries: app.bundles.max_entries, signal: policy.signal });
  return dest;
}
