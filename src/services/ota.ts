// The OTA operations (SPEC "OTA"): a node's check (the timer's `ota check --apply`) and the
// authority's publish. The check builds the same apply engine the daemon builds (same state
// dir, so the same apply lock), and never a second way of applying.
import { codeHash } from '../adapters/code-hash-files.js';
import { createExec } from '../adapters/exec.js';
import { failpointsFromEnv } from '../adapters/failpoints.js';
import { ApplyEngine } from '../node/apply/engine.js';
import { runOtaCheck, type OtaOptions, type OtaOutcome } from '../ota/check.js';
import { publishFeed, type PublishedTrack } from '../ota/publish.js';
import { keysetOf } from '../trust/keyset.js';
import type { Outcome, ServiceContext } from './context.js';

/** Without a track, every track the node follows, one after the other (the timer names none). */
export async function otaCheckTracks(ctx: ServiceContext, opts: OtaOptions): Promise<OtaOutcome[]> {
  const tracks = opts.track !== undefined ? [opts.track] : ctx.config.node.tracks;
  const out: OtaOutcome[] = [];
  for (const track of tracks) out.push(await otaCheck(ctx, { ...opts, track }));
  return out;
}

export async function otaCheck(ctx: ServiceContext, opts: OtaOptions): Promise<OtaOutcome> {
  const { config, store, clock, log } = ctx;
  const keyset = keysetOf(config);
  const tables = store.journal;
  const engine = config.app
    ? new ApplyEngine({
        node: { id: config.node.id, fleet: config.fleet, tracks: config.node.tracks }, app: config.app, stateDir: config.state_dir,
        store, tables, keyset, exec: createExec(), clock, log: log.child({ module: 'apply' }), codeHash: (dir) => codeHash(dir),
        failpoint: failpointsFromEnv(),
      })
    : null;
  return runOtaCheck({ config, store, tables, keyset, engine, clock, log: log.child({ module: 'ota' }) }, opts);
}

export async function otaPublish(ctx: ServiceContext, opts: { dir?: string; baseUrl?: string | null }): Promise<Outcome<PublishedTrack[]>> {
  const { config, store, log } = ctx;
  const tracks = await publishFeed({ config, store, keyset: keysetOf(config), log }, opts);
  const added = tracks.reduce((n, t) => n + t.releases.filter((r) => r.added).length, 0);
  const total = tracks.reduce((n, t) => n + t.releases.length, 0);
  const skipped = tracks.reduce((n, t) => n + t.skipped.length, 0);
  return { reason: `${total} release(s) in the feed, ${added} newly written${skipped ? `, ${skipped} not published (see evidence)` : ''}`, evidence: tracks };
}
