// SIGN: the release manifest for the run, signed with the release keys and verified
// with the pinned keyset before the stage passes.
import { createHash } from 'node:crypto';
import { checkReleaseOrder, trackSpecOf } from '../core/decisions/versions.js';
import { UpshiftError } from '../core/errors.js';
import type { ManifestPayload } from '../core/manifest.js';
import { recordedCodeHash } from './build.js';
import type { StageContext, StageReport } from './context.js';
import { reserveAndSign } from './release-manifest.js';

export async function sign(ctx: StageContext): Promise<StageReport> {
  const { run } = ctx;
  // The last check before a release exists: a newer version may have been released since
  // this run started (a run left pending, or two drivers). Once signed, the decision stands.
  if (!ctx.store.manifests.forRun(run.id, 'release')?.envelope) refuseDowngrade(ctx);
  const { record, envelope, resumed } = await reserveAndSign(ctx, {
    purpose: 'release', kind: 'release', version: run.version, commit: run.commit, codeHash: recordedCodeHash(ctx, run.id),
    targets: 'all', evidence: releaseEvidence(ctx),
  });
  const keyids = (JSON.parse(envelope) as { signatures: Array<{ keyid: string }> }).signatures.map((s) => s.keyid);
  return {
    outcome: 'passed',
    reason: `signed ${run.track}#${record.seq} (${run.version}) with ${keyids.length} key(s); verifies with the pinned keyset (threshold ${ctx.keyset.threshold})${resumed ? '; reused the signature recorded before a restart' : ''}`,
    evidence: { track: run.track, seq: record.seq, keyids, payload_sha256: createHash('sha256').update(record.payload).digest('hex'), envelope_bytes: envelope.length },
  };
}

function refuseDowngrade(ctx: StageContext): void {
  const { run } = ctx;
  const track = ctx.authority.tracks[run.track];
  if (!track) return;
  const released = ctx.store.manifests.releasedVersions(run.track, run.id);
  const order = checkReleaseOrder(trackSpecOf(run.track, track), run.version, released);
  if (!order.ok) {
    throw new UpshiftError('E_DOWNGRADE', order.reason, { details: { track: run.track, version: run.version, newest: order.newest } });
  }
}

/** What the manifest carries as evidence: the test and benchmark numbers this run recorded. */
export function releaseEvidence(ctx: Pick<StageContext, 'store' | 'run'>): ManifestPayload['evidence'] {
  const test = ctx.store.getStageResult(ctx.run.id, 'test')?.evidence as
    | { report?: { passed: number; failed: number; skipped: number } | null; pass_rate?: number | null } | undefined;
  const bench = ctx.store.getStageResult(ctx.run.id, 'benchmark');
  const suites = ((bench?.evidence.suites ?? []) as Array<{ name: string; baseline_version: string | null; comparisons: Array<{ metric: string; better: 'lower' | 'higher'; value: number; baseline: number | null; change: number | null; worse: boolean }> }>);
  const metrics: NonNullable<ManifestPayload['evidence']['benchmark']>['metrics'] = {};
  let regressions = 0;
  for (const s of suites) {
    for (const c of s.comparisons) {
      metrics[`${s.name}.${c.metric}`] = { value: c.value, better: c.better, baseline: c.baseline, change: c.change };
      if (c.worse) regressions++;
    }
  }
  const report = test?.report;
  return {
    run_id: ctx.run.id,
    test: report && typeof test?.pass_rate === 'number' ? { passed: report.passed, failed: report.failed, skipped: report.skipped, pass_rate: test.pass_rate } : null,
    benchmark: suites.length > 0 ? { baseline_version: suites[0]?.baseline_version ?? null, regressions, metrics } : null,
    notes: bench?.outcome === 'skipped' ? ['no benchmark suites configured'] : [],
  };
}
