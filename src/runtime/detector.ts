// Polls the source for new versions: one fetch into the mirror, then the pure decision
// per track. Starting runs for what it finds is the scheduler's business, not this one's:
// the detector only reports, so a poll can be repeated or dropped at any time.
import { UpshiftError } from '../core/errors.js';
import type { SourceRepo } from '../core/ports.js';
import { detectNext, type Candidate, type SeenVersions, type SourceRefs, type TrackSpec } from '../core/decisions/versions.js';

export interface TrackPoll {
  /** Track name. */
  track: string;
  next: Candidate | null;
  skipped: Candidate[];
  reason: string;
  /** A branch track's branch and whether the source has it; null for a tag track. */
  branch: { name: string; present: boolean } | null;
}

export interface DetectorOptions {
  source: SourceRepo;
  tracks: TrackSpec[];
  /** What the run store has recorded for the track; read after the fetch, at decision time. */
  seen(track: TrackSpec): SeenVersions | Promise<SeenVersions>;
}

export interface Detector {
  /** Fetch once, then decide every track against the same snapshot of the mirror. */
  poll(signal?: AbortSignal): Promise<TrackPoll[]>;
}

export function createDetector(opts: DetectorOptions): Detector {
  const { source, tracks } = opts;
  return {
    async poll(signal) {
      await source.fetch(signal);
      // Tags are listed once for all tag tracks; branch heads only for branches in use.
      const tags = tracks.some((tr) => tr.kind === 'tags') ? await source.tags() : [];
      const heads = new Map<string, string | null>();
      for (const tr of tracks) {
        if (tr.kind === 'branch' && !heads.has(tr.branch)) heads.set(tr.branch, await source.branchHead(tr.branch));
      }

      const result: TrackPoll[] = [];
      for (const track of tracks) {
        // A cancelled poll must not hand back a half-made answer that looks complete.
        if (signal?.aborted) throw new UpshiftError('E_CANCELLED', 'version poll cancelled', { cause: signal.reason });
        const refs: SourceRefs = { branchHead: track.kind === 'branch' ? heads.get(track.branch) ?? null : null, tags };
        const { next, skipped, reason } = detectNext(track, refs, await opts.seen(track));
        const branch = track.kind === 'branch' ? { name: track.branch, present: refs.branchHead !== null } : null;
        result.push({ track: track.name, next, skipped, reason, branch });
      }
      return result;
    },
  };
}
