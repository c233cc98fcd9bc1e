// The acceptance rules for a verified manifest (SPEC "Trust" and "Node agent" step 1), pure:
// what any door checks (fleet, track, expiry, validity bounds, floor), and what applying on
// this node adds (the node's tracks, targets, bad marks, a version safe as a directory name).
// Every path that takes a manifest (gossip, the apply engine, `manifest verify`, and later
// OTA) decides with these, so they cannot disagree.
import { formatSpan as span } from '../duration.js';
import { UpshiftError } from '../errors.js';
import type { ManifestPayload } from '../manifest.js';

/**
 * How long a manifest may be valid and how far its creation may lie in this node's future
 * (config `trust.max_manifest_ttl`, `trust.clock_skew`). Without a bound on validity, one
 * leaked manifest signed to expire in 9999 is good forever; without the skew bound, one
 * dated a year ahead is good for a year longer than its signer meant.
 */
export interface ManifestLimits {
  /** Longest `expires_at - created_at` accepted, ms. */
  maxTtl: number;
  /** How far `created_at` may lie after `now`, ms: clocks on a fleet disagree a little. */
  clockSkew: number;
}

/** The config defaults of `trust.max_manifest_ttl` (90d) and `trust.clock_skew` (5m). */
export const DEFAULT_MANIFEST_LIMITS: ManifestLimits = { maxTtl: 90 * 86_400_000, clockSkew: 5 * 60_000 };

export interface AcceptanceContext {
  /** Milliseconds since the epoch, from the caller's clock. */
  now: number;
  /** From the keyset in force (keyset.limits), so every path checks the same bounds. */
  limits: ManifestLimits;
  fleet: string;
  /** The track this node follows; when omitted any track is accepted. */
  track?: string;
  /** Highest seq already applied on this track, or null when nothing was. */
  floorSeq: number | null;
}

/**
 * The checks a node runs on a verified manifest before acting on it. Returns 'newer'
 * (act on it) or 'same' (re-delivery of the floor: a no-op for callers); throws for
 * anything expired, not yet valid, valid for longer than the limit, for another fleet or
 * track, or below the floor.
 */
export function checkManifestAcceptable(p: ManifestPayload, ctx: AcceptanceContext): 'newer' | 'same' {
  const expiresAt = Date.parse(p.expires_at);
  if (!(ctx.now < expiresAt)) {
    throw new UpshiftError('E_EXPIRED', `manifest ${p.track}#${p.seq} expired at ${p.expires_at}`, {
      details: { expires_at: p.expires_at, now: ctx.now },
    });
  }
  checkValidity(p, ctx.now, ctx.limits);
  if (p.fleet !== ctx.fleet) {
    throw new UpshiftError('E_WRONG_FLEET', `manifest is for fleet "${p.fleet}", this node is in fleet "${ctx.fleet}"`, {
      details: { manifest_fleet: p.fleet, fleet: ctx.fleet },
    });
  }
  if (ctx.track !== undefined && p.track !== ctx.track) {
    throw new UpshiftError('E_WRONG_TRACK', `manifest is for track "${p.track}", expected track "${ctx.track}"`, {
      details: { manifest_track: p.track, track: ctx.track },
    });
  }
  if (ctx.floorSeq === null || p.seq > ctx.floorSeq) return 'newer';
  if (p.seq === ctx.floorSeq) return 'same';
  // A rollback is a new manifest with a higher seq, never an old one replayed.
  throw new UpshiftError('E_ROLLBACK', `manifest ${p.track}#${p.seq} is below the floor ${ctx.floorSeq} for track "${p.track}"`, {
    details: { seq: p.seq, floor: ctx.floorSeq, track: p.track },
  });
}

function checkValidity(p: ManifestPayload, now: number, limits: ManifestLimits): void {
  const createdAt = Date.parse(p.created_at);
  if (createdAt > now + limits.clockSkew) {
    const message = `manifest ${p.track}#${p.seq} was created at ${p.created_at}, `
      + `more than ${span(limits.clockSkew)} (the allowed clock skew) in the future`;
    throw new UpshiftError('E_NOT_YET_VALID', message, {
      details: { created_at: p.created_at, now, clock_skew_ms: limits.clockSkew },
    });
  }
  const ttl = Date.parse(p.expires_at) - createdAt;
  if (ttl > limits.maxTtl) {
    const message = `manifest ${p.track}#${p.seq} is valid for ${span(ttl)} (${p.created_at} to ${p.expires_at}), `
      + `longer than the maximum ${span(limits.maxTtl)}`;
    throw new UpshiftError('E_MANIFEST_TTL', message, {
      details: { created_at: p.created_at, expires_at: p.expires_at, ttl_ms: ttl, max_ttl_ms: limits.maxTtl },
    });
  }
}

/** This node as the acceptance rules see it. */
export interface NodeScope {
  id: string;
  fleet: string;
  /** The tracks its app runs: only these are applied. */
  tracks: readonly string[];
}

export interface ApplyAcceptance {
  now: number;
  limits: ManifestLimits;
  node: NodeScope;
  /** The highest seq applied on the manifest's track, from every floor kept (database, disk); null when none. */
  floorSeq: number | null;
  /** A bad mark this node holds for the manifest's commit or version, or null. */
  badMark: { version: string; commit: string; reason: string } | null;
}

/**
 * SPEC step 1 before an apply: the node runs the track, the manifest targets it, it is for
 * this fleet, unexpired and within the validity bounds, not below the floor (equal is
 * 'same': already applied), not marked bad here, and its version is a safe directory name.
 */
export function acceptForApply(p: ManifestPayload, a: ApplyAcceptance): 'newer' | 'same' {
  if (!a.node.tracks.includes(p.track)) {
    throw new UpshiftError('E_WRONG_TRACK', `this node does not follow track "${p.track}"`, { details: { track: p.track, tracks: a.node.tracks } });
  }
  if (p.targets !== 'all' && !p.targets.includes(a.node.id)) {
    throw new UpshiftError('E_NOT_TARGETED', `manifest ${p.track}#${p.seq} targets other nodes, not ${a.node.id}`, { details: { targets: p.targets } });
  }
  const verdict = checkManifestAcceptable(p, { now: a.now, limits: a.limits, fleet: a.node.fleet, track: p.track, floorSeq: a.floorSeq });
  if (verdict === 'same') return 'same';
  if (a.badMark) {
    const b = a.badMark;
    throw new UpshiftError('E_BAD_VERSION', `${b.version} (${b.commit.slice(0, 12)}) is marked bad on this node: ${b.reason}`, { details: { ...b } });
  }
  checkVersionName(p.version);
  return 'newer';
}

/**
 * What a node holds and forwards for gossip, whether or not it applies it: a track it holds,
 * this fleet, unexpired, within the bounds. The seq is judged against the held set
 * (gossip/held.ts); the floor only when applying.
 */
export function acceptForHolding(p: ManifestPayload, a: { now: number; limits: ManifestLimits; fleet: string; tracks: readonly string[] }): void {
  if (!a.tracks.includes(p.track)) throw new UpshiftError('E_WRONG_TRACK', `this node does not follow track "${p.track}"`);
  checkManifestAcceptable(p, { now: a.now, limits: a.limits, fleet: a.fleet, track: p.track, floorSeq: null });
}

const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

/** A version names a release directory: letters, digits, "._+-", no "..", at most 128. */
export function checkVersionName(version: string): void {
  if (!SAFE_SEGMENT.test(version) || version.includes('..')) {
    throw new UpshiftError('E_BAD_VERSION', `version ${JSON.stringify(version)} is not a safe release directory name (letters, digits, "._+-", no "..", at most 128)`, {
      details: { version },
    });
  }
}
