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
  if (!(await ctx.store.manifests.forRun(run.id, 'release'))?.envelope) await refuseDowngrade(ctx);
  const { record, envelope, resumed } = await reserveAndSign(ctx, {
    purpose: 'release', kind: 'release', version: run.version, commit: run.commit, codeHash: await recordedCodeHash(ctx, run.id),
    targets: 'all', evidence: await releaseEvidence(ctx),
  });
  const keyids = (JSON.parse(envelope) as { signatures: Array<{ keyid: string }> }).signatures.map((s) => s.keyid);
  return {
    outcome: 'passed',
    reason: `signed ${run.track}#${record.seq} (${run.version}) with ${keyids.length} key(s); verifies with the pinned keyset (threshold ${ctx.keyset.threshold})${resumed ? '; reused the signature recorded before a restart' : ''}`,
    evidence: { track: run.track, seq: record.seq, keyids, payload_sha256: createHash('sha256').update(record.payload).digest('hex'), envelope_bytes: envelope.length },
  };
}

async function refuseDowngrade(ctx: StageContext): Promise<void> {
  const { run } = ctx;
  const track = ctx.authority.tracks[run.track];
  if (!track) return;
  const released = await ctx.store.manifests.releasedVersions(run.track, run.id);
  const order = checkReleaseOrder(trackSpecOf(run.track, track), run.version, released);
  if (!order.ok) {
    throw new UpshiftError('E_DOWNGRADE', order.reason, { details: { track: run.track, version: run.version, newest: order.newest } });
  }
}

/** What the manifest carries as evidence: the test and benchmark facts this run recorded. */
export async function releaseEvidence(ctx: Pick<StageContext, 'store' | 'run'>): Promise<ManifestPayload['evidence']> {
  const facts = await ctx.store.runFacts(ctx.run.id);
  const bench = facts.benchmark;
  const metrics: NonNullable<ManifestPayload['evidence']['benchmark']>['metrics'] = {};
  for (const [name, m] of Object.entries(bench?.metrics ?? {})) metrics[name] = { value: m.value, better: m.better, baseline: m.baseline, change: m.change };
  const test = facts.test;
  const skipped = (await ctx.store.getStageResult(ctx.run.id, 'benchmark'))?.outcome === 'skipped';
  return {
    run_id: ctx.run.id,
    test: test ? { passed: test.passed, failed: test.failed, skipped: test.skipped, pass_rate: test.passRate } : null,
    benchmark: bench && Object.keys(bench.metrics).length > 0
      ? { baseline_version: bench.baselineVersion, regressions: Object.values(bench.metrics).filter((m) => m.worse).length, metrics }
      : null,
    notes: skipped ? ['no benchmark suites configured'] : [],
  };
}
