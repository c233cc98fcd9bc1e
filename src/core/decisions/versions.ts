// Which version a track should release next, decided from the refs the source has and
// the versions this authority has already seen. Pure: refs and history arrive as data.
//
// A branch track (testnet) follows every new head: its version is the commit SHA. A tag
// track (production) follows semver tags matching a glob: its version is the tag name,
// and only the newest new tag is released, so a fleet that fell behind catches up in one
// step instead of replaying every release in between.
import picomatch from 'picomatch';
import semver from 'semver';

export type TrackSpec =
  | { name: string; kind: 'branch'; branch: string }
  | { name: string; kind: 'tags'; pattern: string; includePrerelease: boolean };

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
