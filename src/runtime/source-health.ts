// How the authority's source looked at its last poll, as problems an operator can act on:
// a poll that failed (the source cannot be fetched) and branch tracks whose branch the
// source does not have. Readiness, `upshift status`, /v1/status and /metrics read it here.
import type { Config } from '../core/config.js';
import { trackSpecOf } from '../core/decisions/versions.js';
import type { StateStore } from '../core/ports.js';
import { shownRemote } from '../adapters/git-remote.js';

export interface SourceHealth {
  /** When the authority last polled (successfully or not); null before its first poll. */
  polledAt: number | null;
  /** Whether that poll fetched the source; null before the first poll. */
  pollOk: boolean | null;
  /** Empty when the source is fine, or when nothing is known yet. */
  problems: string[];
  /** Per branch track of the config: whether the last good poll found its branch (null: not yet known). */
  branches: Array<{ track: string; branch: string; present: boolean | null }>;
}

export async function sourceHealth(config: Config, store: StateStore): Promise<SourceHealth> {
  const source = shownRemote(config.authority?.source ?? '');
  const last = await store.sourcePolls.last();
  const seen = new Map((await store.sourcePolls.branches()).map((b) => [b.track, b]));
  const problems: string[] = [];
  if (last && !last.ok) problems.push(`polling ${source} failed (${last.code}): ${last.message}`);
  const specs = Object.entries(config.authority?.tracks ?? {}).map(([name, t]) => trackSpecOf(name, t));
  const branches = specs.flatMap((spec) => {
    if (spec.kind !== 'branch') return [];
    const row = seen.get(spec.name);
    // a row for another branch is from before a config change: unknown until the next poll
    const present = row && row.branch === spec.branch ? row.present : null;
    if (present === false) problems.push(`track ${spec.name}: branch "${spec.branch}" not found in ${source}`);
    return [{ track: spec.name, branch: spec.branch, present }];
  });
  return { polledAt: last?.at ?? null, pollOk: last ? last.ok : null, problems, branches };
}
