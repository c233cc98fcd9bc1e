// Which version a track should release next, decided from the refs the source has and
// the versions this authority has already seen. Pure: refs and history arrive as data.
//
// A branch track (testnet) follows every new head: its version is the commit SHA. A tag
// track (production) follows semver tags matching a glob: its version is the tag name,
// and only the newest new tag is released, so a fleet that fell behind catches up in one
// step instead of replaying every release in between.
import picomatch from 'picomatch';
// the four functions used, not semver's index, which loads all of it (~8 MB resident per daemon)
import compare from 'semver/functions/compare.js';
import gt from 'semver/functions/gt.js';
import prerelease from 'semver/functions/prerelease.js';
import valid from 'semver/functions/valid.js';

const semver = { compare, gt, prerelease, valid };
import type { TrackConfig } from '../config.js';

export type TrackSpec =
  | { name: string; kind: 'branch'; branch: string }
  | { name: string; kind: 'tags'; pattern: string; includePrerelease: boolean };

/** A configured track as the decisions see it. */
export function trackSpecOf(name: string, t: TrackConfig): TrackSpec {
  return 'branch' in t
    ? { name, kind: 'branch', branch: t.branch }
    : { name, kind: 'tags', pattern: t.tags, includePrerelease: t.include_prerelease };
}

export interface Candidate {
  /** Track name. */
  track: string;
  /** Commit SHA for branch tracks, tag name for tag tracks. */
  version: string;
  /** The branch or tag name it was found under. */
  ref: string;
  commit: string;
}

export interface SourceRefs {
  /** Head of the track's branch, or null when the branch does not exist. */
  branchHead: string | null;
  tags: Array<{ tag: string; commit: string }>;
}

export interface SeenVersions {
  versions: Set<string>;
  /** Newest version released on the track so far (a tag name for tag tracks). */
  newest: string | null;
}

export interface Detection {
  next: Candidate | null;
  /** New tags passed over because a newer one is released instead, oldest first. */
  skipped: Candidate[];
  reason: string;
}

/** The semver of a tag (`v1.2.3` or `1.2.3`), or null when it is not strict semver. */
export function tagSemver(tag: string): string | null {
  // semver.valid alone also accepts `=1.2.3` and ` v1.2.3`; after our one optional `v`
  // only a digit may start the version, so `vv1.2.3` is not a release.
  const m = /^v?(\d.*)$/.exec(tag);
  return m?.[1] === undefined ? null : semver.valid(m[1]);
}

/**
 * Order two versions of a tag track by semver precedence (-1, 0, 1). Null when they
 * have no order: any branch-track version (commit SHAs) or a tag that is not semver.
 */
export function compareVersions(track: TrackSpec, a: string, b: string): -1 | 0 | 1 | null {
  if (track.kind !== 'tags') return null;
  const va = tagSemver(a);
  const vb = tagSemver(b);
  if (va === null || vb === null) return null;
  return semver.compare(va, vb);
}

/**
 * The newest of a tag track's versions by semver, or null. Versions that are not semver
 * (a track that once followed a branch, say) have no place in the order and are passed
 * over, so they can never hide a newer release.
 */
export function newestVersion(track: TrackSpec, versions: readonly string[]): string | null {
  let newest: string | null = null;
  for (const v of versions) {
    if (tagSemver(v) === null) continue;
    if (newest === null || (compareVersions(track, v, newest) ?? 0) > 0) newest = v;
  }
  return newest;
}

export interface ReleaseOrder {
  ok: boolean;
  /** The newest version already released on the track, or null. */
  newest: string | null;
  reason: string;
}

/**
 * Whether releasing `version` keeps its track moving forward. On a tag track a version
 * older (by semver) than the newest one released is a downgrade: going back is a rollback
 * (a new manifest, higher seq, pinning the older commit), never a release that nodes would
 * take as an upgrade. The same version again (a retry) is not older. Branch tracks follow
 * commits, which have no order here.
 */
export function checkReleaseOrder(track: TrackSpec, version: string, released: readonly string[]): ReleaseOrder {
  if (track.kind !== 'tags') {
    return { ok: true, newest: null, reason: `track ${track.name} follows a branch: its versions are commits, not ordered` };
  }
  const newest = newestVersion(track, released);
  if (newest === null) return { ok: true, newest, reason: `nothing released on ${track.name} yet` };
  const order = compareVersions(track, version, newest);
  if (order === null) return { ok: true, newest, reason: `${version} is not semver; it cannot be ordered against ${newest}` };
  if (order >= 0) {
    const how = order === 0 ? 'the same version as' : 'newer than';
    return { ok: true, newest, reason: `${version} is ${how} ${newest}, the newest released on ${track.name}` };
  }
  return {
    ok: false,
    newest,
    reason: `${version} is older than ${newest}, the newest version released on ${track.name}; `
      + `a release only moves a track forward. To go back to ${version}, roll back instead: `
      + `\`upshift pipeline rollback RUN\` while a newer run is in flight, or a signed rollback manifest `
      + `(kind "rollback", a seq above the newest, pinning the older commit)`,
  };
}

export function detectNext(track: TrackSpec, refs: SourceRefs, seen: SeenVersions): Detection {
  return track.kind === 'branch' ? detectBranch(track, refs, seen) : detectTag(track, refs, seen);
}

function detectBranch(track: Extract<TrackSpec, { kind: 'branch' }>, refs: SourceRefs, seen: SeenVersions): Detection {
  const head = refs.branchHead;
  if (head === null) {
    return { next: null, skipped: [], reason: `branch ${track.branch} does not exist in the source` };
  }
  if (seen.versions.has(head)) {
    return { next: null, skipped: [], reason: `head ${short(head)} of ${track.branch} was already seen` };
  }
  return {
    next: { track: track.name, version: head, ref: track.branch, commit: head },
    skipped: [],
    reason: `${track.branch} moved to ${short(head)}`,
  };
}

interface Parsed {
  tag: string;
  commit: string;
  version: string;
}

function detectTag(track: Extract<TrackSpec, { kind: 'tags' }>, refs: SourceRefs, seen: SeenVersions): Detection {
  const matches = picomatch(track.pattern);
  const releases: Parsed[] = [];
  for (const { tag, commit } of refs.tags) {
    if (!matches(tag)) continue;
    const version = tagSemver(tag);
    if (version === null) continue;
    if (!track.includePrerelease && semver.prerelease(version) !== null) continue;
    releases.push({ tag, commit, version });
  }
  // Tag name breaks ties (v1.0.0 and 1.0.0, or build metadata) so the answer is stable.
  releases.sort((a, b) => semver.compare(a.version, b.version) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));

  const notes: string[] = [];
  const floor = seen.newest === null ? null : tagSemver(seen.newest);
  if (seen.newest !== null && floor === null) {
    // Cannot order against it; seen.versions still keeps released tags from coming back.
    notes.push(`newest seen version ${seen.newest} is not semver and was not used as a floor`);
  }

  const unseen = releases.filter((r) => !seen.versions.has(r.tag));
  const fresh = floor === null ? unseen : unseen.filter((r) => semver.gt(r.version, floor));
  const older = unseen.length - fresh.length;
  if (older > 0) notes.push(`${older} unseen tag${older === 1 ? '' : 's'} not newer than ${seen.newest} ignored`);

  const toCandidate = (r: Parsed): Candidate => ({ track: track.name, version: r.tag, ref: r.tag, commit: r.commit });
  const newest = fresh.at(-1);
  if (newest === undefined) {
    const why = releases.length === 0
      ? `no tag matches ${track.pattern} as ${track.includePrerelease ? '' : 'non-prerelease '}semver`
      : `no new tag matching ${track.pattern}${seen.newest === null ? '' : ` after ${seen.newest}`}`;
    return { next: null, skipped: [], reason: [why, ...notes].join('; ') };
  }

  const skipped = fresh.slice(0, -1).map(toCandidate);
  const parts = [`${newest.tag} is the newest new tag matching ${track.pattern}`];
  if (skipped.length > 0) parts.push(`${skipped.map((c) => c.version).join(', ')} superseded by ${newest.tag}`);
  return { next: toCandidate(newest), skipped, reason: [...parts, ...notes].join('; ') };
}

const short = (sha: string): string => sha.slice(0, 12);
