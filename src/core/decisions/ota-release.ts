// Which release of a feed an OTA check takes (SPEC "OTA"), pure: the newest for the node's
// track above what it runs. Nothing in the feed is trusted: this only picks which manifest
// to download; the signed manifest then decides (acceptance.ts: fleet, track, expiry, floor).
import semver from 'semver';
import { tagSemver } from './versions.js';

/** One release of a GitHub-Releases-shaped feed, as far as the pick needs it. */
export interface FeedRelease {
  tag_name: string;
  draft?: boolean | undefined;
  assets: Array<{ name: string; size: number; browser_download_url: string; digest?: string | null | undefined }>;
}

/** What this node runs on the track: the floor (highest applied seq) and the running version. */
export interface TrackPosition {
  track: string;
  floorSeq: number | null;
  runningVersion: string | null;
}

export type Pick<R extends FeedRelease> =
  | { kind: 'release'; release: R; order: 'seq' | 'semver'; reason: string }
  | { kind: 'up-to-date'; reason: string };

/**
 * Branch tracks are published as tag `<track>-<seq>` and ordered by seq; tag tracks keep
 * their semver tag and are ordered by semver. The newest release above the node's position
 * is taken (a node three releases behind goes straight to the newest), drafts never.
 */
export function pickRelease<R extends FeedRelease>(releases: readonly R[], at: TrackPosition): Pick<R> {
  const live = releases.filter((r) => r.draft !== true);
  const bySeq = live.flatMap((r) => {
    const seq = seqOfTag(r.tag_name, at.track);
    return seq === null ? [] : [{ r, seq }];
  });
  if (bySeq.length > 0) {
    const newest = bySeq.reduce((a, b) => (b.seq > a.seq ? b : a));
    if (at.floorSeq !== null && newest.seq <= at.floorSeq) {
      return { kind: 'up-to-date', reason: `the newest ${at.track} release in the feed is #${newest.seq}; this node is at #${at.floorSeq}` };
    }
    return { kind: 'release', release: newest.r, order: 'seq', reason: `${newest.r.tag_name} is the newest ${at.track} release (seq ${newest.seq})` };
  }
  const bySemver = live.flatMap((r) => {
    const v = tagSemver(r.tag_name);
    return v === null ? [] : [{ r, v }];
  });
  if (bySemver.length === 0) return { kind: 'up-to-date', reason: `the feed has no release for track ${at.track}` };
  const newest = bySemver.reduce((a, b) => (semver.gt(b.v, a.v) ? b : a));
  const running = at.runningVersion === null ? null : tagSemver(at.runningVersion);
  if (running !== null && !semver.gt(newest.v, running)) {
    return { kind: 'up-to-date', reason: `the newest ${at.track} release in the feed is ${newest.r.tag_name}; this node runs ${at.runningVersion}` };
  }
  return { kind: 'release', release: newest.r, order: 'semver', reason: `${newest.r.tag_name} is the newest ${at.track} release` };
}

/** `testnet-42` → 42 for track testnet; null for any other tag. */
export function seqOfTag(tag: string, track: string): number | null {
  if (!tag.startsWith(`${track}-`)) return null;
  const rest = tag.slice(track.length + 1);
  if (!/^[1-9][0-9]{0,15}$/.test(rest)) return null;
  const n = Number(rest);
  return Number.isSafeInteger(n) ? n : null;
}

/** The tag `ota publish` gives a release: its version on a tag track, `<track>-<seq>` otherwise. */
export function tagFor(p: { track: string; seq: number; version: string }, order: 'seq' | 'semver'): string {
  return order === 'semver' ? p.version : `${p.track}-${p.seq}`;
}

/** Asset names inside one release. */
export const MANIFEST_ASSET = 'manifest.json';
export const bundleAssetName = (version: string, commit: string): string => `${version}-${commit.slice(0, 12)}.tar.gz`;
