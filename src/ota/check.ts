// `upshift ota check [--apply]` (SPEC "OTA"): the newest release of the node's track in the
// feed, above what it runs; its manifest verified at the one door (verifyManifest) and by
// the acceptance rules; its bundle downloaded into a private staging dir and checked
// (length, sha256, every tar entry); the approval gate; then the one apply engine with a
// local-bundle source, under the same apply lock as the daemon. Every refusal leaves the
// staging dir gone and `current` unchanged. Steps are ordered cheapest-refusal first.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../core/config.js';
import { pickRelease, tagFor } from '../core/decisions/ota-release.js';
import { toUpshiftError, UpshiftError, type ErrorCode } from '../core/errors.js';
import type { ApplyEngine } from '../node/apply/engine.js';
import { ApplyLock } from '../node/apply/lock.js';
import { readDiskFloor } from '../node/apply/disk-floor.js';
import { localBundleSource } from '../node/apply/release-source.js';
import { askApproval } from './approval.js';
import { fetchText, type HttpPolicy } from './download.js';
import { downloadBundle, verifiedManifestOf } from './assets.js';
import { readFeed } from './feed.js';
import { holdForDaemon } from './hold.js';

export type { OtaDeps, OtaOptions, OtaOutcome, OtaOutcomeKind } from './types.js';
import type { OtaDeps, OtaOptions, OtaOutcome, OtaOutcomeKind } from './types.js';

// What a gate refused (verification, approval): exit 3. Anything else that stops a check is a failure: exit 1.
const GATE_CODES = new Set<ErrorCode>([
  'E_SIG_INVALID', 'E_UNKNOWN_KEY', 'E_THRESHOLD', 'E_SMALL_ORDER_KEY', 'E_MANIFEST_PARSE', 'E_MANIFEST_SCHEMA', 'E_PAYLOAD_TYPE',
  'E_ROLLBACK', 'E_EXPIRED', 'E_NOT_YET_VALID', 'E_MANIFEST_TTL', 'E_WRONG_FLEET', 'E_WRONG_TRACK', 'E_NOT_TARGETED', 'E_BAD_VERSION',
  'E_CHECKSUM', 'E_OTA_ORIGIN', 'E_OTA_REDIRECT', 'E_OTA_ASSET', 'E_DOWNLOAD_TOO_LARGE', 'E_BUNDLE_PATH', 'E_BUNDLE_LIMIT',
  'E_BUNDLE_INTEGRITY', 'E_APPROVAL_DENIED', 'E_APPROVAL_UNAVAILABLE',
]);

export function exitCodeOf(o: OtaOutcome): 0 | 1 | 3 {
  return o.outcome === 'refused' ? 3 : o.outcome === 'failed' ? 1 : 0;
}

/** Run one check. Config and usage problems throw (exit 2); everything else is an outcome. */
export async function runOtaCheck(deps: OtaDeps, opts: OtaOptions): Promise<OtaOutcome> {
  const { config } = deps;
  const track = trackOf(config, opts.track);
  const feed = config.ota.feed;
  if (feed === null) {
    throw new UpshiftError('E_CONFIG',
      'ota.feed is not set: there is no release feed to check (see README "OTA")',
    );
  }
  if (opts.apply && (!config.app || !deps.engine)) {
    throw new UpshiftError('E_CONFIG',
      'ota check --apply needs an `app:` section: this node runs no app',
    );
  }
  const from = await position(deps, track);
  const out: OtaOutcome = {
    ok: true, outcome: 'up-to-date', track, reason: '', from: { seq: from.floorSeq, version: from.runningVersion }, release: null,
  };
  const staging = stagingDir(config.ota.staging_dir ?? join(config.state_dir, 'ota'));
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new UpshiftError('E_TIMEOUT',
    `the OTA check did not finish within ota.deadline (${config.ota.deadline} ms)`,
  )), config.ota.deadline);
  try {
    const feedUrl = feed.replaceAll('{track}', track);
    const token = config.ota.token_file ? readToken(config.ota.token_file) : undefined;
    const policy: HttpPolicy = { allow: config.ota.allow, feed: feedUrl, signal: deadline.signal, ...(token ? { token } : {}) };
    const limits = { maxBytes: config.ota.max_feed_bytes, maxReleases: config.ota.max_releases };
    const { releases, base } = await readFeed(feedUrl, limits, (url, max) => fetchText(url, max, policy, 'E_FEED_TOO_LARGE'));
    const pick = pickRelease(releases, from);
    if (pick.kind === 'up-to-date') return done(out, 'up-to-date', pick.reason);
    out.release = { tag: pick.release.tag_name, seq: null, version: null };
    const m = await verifiedManifestOf(deps, pick.release, base, policy, track, from.floorSeq);
    out.release = { tag: pick.release.tag_name, seq: m.payload.seq, version: m.payload.version };
    if (tagFor(m.payload, pick.order) !== pick.release.tag_name) {
      throw new UpshiftError('E_OTA_ASSET',
        `release ${pick.release.tag_name} carries the manifest of ${m.payload.track}#${m.payload.seq} (${m.payload.version})`,
      );
    }
    if (!opts.apply) return done(out, 'available', `${pick.reason}; its manifest verifies (run with --apply to install it)`);
    // The engine takes the lock itself; looking first spares a download the apply could not use.
    const busy = ApplyLock.heldBy(config.state_dir);
    if (busy) {
      throw new UpshiftError('E_APPLY_LOCKED', `another apply is in progress (${busy.holder}, pid ${busy.pid}); the next check tries again`, {
        details: { ...busy },
      });
    }
    const bundle = await downloadBundle(deps, pick.release, m.payload, base, policy, staging, opts, out);
    if (config.ota.approval.url !== null) {
      const said = await askApproval({
        url: config.ota.approval.url, timeoutMs: config.ota.approval.timeout, node: config.node.id,
        track, version: m.payload.version, seq: m.payload.seq, signal: deadline.signal,
      });
      deps.log?.info({ module: 'ota', track, seq: m.payload.seq }, said);
    }
    clearTimeout(timer); // the deadline is the download's; the apply has its own (healthy_deadline, hook_timeout)
    const source = localBundleSource(bundle, (config.app as NonNullable<Config['app']>).bundles, m.payload.bundle !== undefined);
    const applied = await (deps.engine as ApplyEngine).applyManifest(m, source);
    await holdForDaemon(deps, m);
    return done(out, 'updated', `${track} ${from.runningVersion ?? '(none)'} → ${m.payload.version} (#${m.payload.seq}): ${applied.reason}`);
  } catch (err) {
    // a fetch aborted by the deadline throws a plain AbortError; the deadline's own error says more
    const late = deadline.signal.aborted && deadline.signal.reason instanceof UpshiftError && !(err instanceof UpshiftError);
    const e = toUpshiftError(late ? deadline.signal.reason : err);
    if (e.code === 'E_CONFIG' || e.code === 'E_USAGE' || e.code === 'E_UNSAFE_PATH') throw e;
    out.ok = false;
    out.outcome = GATE_CODES.has(e.code) ? 'refused' : 'failed';
    out.reason = e.message;
    out.error = { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) };
    deps.log?.warn({ module: 'ota', track, code: e.code }, `OTA check ${out.outcome}: ${e.message}`);
    return out;
  } finally {
    clearTimeout(timer);
    rmSync(staging, { recursive: true, force: true });
    const actor = `node:${config.node.id}`;
    await deps.store.appendEvent({ at: deps.clock.now(), runId: null, stage: null, kind: 'ota.check', actor, data: { ...out } });
  }
}

function readToken(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UpshiftError('E_CONFIG',
      `ota.token_file: cannot read ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

function done(out: OtaOutcome, outcome: OtaOutcomeKind, reason: string): OtaOutcome {
  out.outcome = outcome;
  out.reason = reason;
  return out;
}

function trackOf(config: Config, wanted: string | undefined): string {
  const tracks = config.node.tracks;
  if (wanted !== undefined) {
    if (!tracks.includes(wanted)) {
      throw new UpshiftError('E_UNKNOWN_TRACK',
        `this node does not follow track "${wanted}" (node.tracks: ${tracks.join(', ')})`,
      );
    }
    return wanted;
  }
  if (tracks.length !== 1) {
    throw new UpshiftError('E_USAGE',
      `this node follows ${tracks.join(', ')}: name one with --track`,
    );
  }
  return tracks[0] as string;
}

/** The floor (the higher of the database's and the one beside the releases) and the version running. */
async function position(deps: OtaDeps, track: string): Promise<{ track: string; floorSeq: number | null; runningVersion: string | null }> {
  const db = await deps.store.floors.get(track);
  const disk = deps.config.app ? readDiskFloor(deps.config.app.dir, track)?.seq ?? null : null;
  const floorSeq = db === null ? disk : disk === null ? db : Math.max(db, disk);
  const running = (await deps.tables.latestConfirmedPerTrack()).find((a) => a.track === track);
  return { track, floorSeq, runningVersion: running?.version ?? null };
}

/** The private staging dir: 0700, one fresh subdir per check; leftovers of a killed check go first. */
function stagingDir(root: string): string {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  for (const name of readdirSync(root)) {
    const pid = /^check-(\d+)-/.exec(name)?.[1];
    if (pid !== undefined && !alive(Number(pid))) rmSync(join(root, name), { recursive: true, force: true });
  }
  const dir = join(root, `check-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
