// Building, reserving and signing a run's manifests. The payload bytes are fixed when a
// seq is reserved; signing is deterministic, so a resumed SIGN produces the same
// envelope and never a second, different manifest for the same (track, seq).
import { MANIFEST_SCHEMA, PAYLOAD_TYPES, type ManifestPayload, encodeManifest } from '../core/manifest.js';
import { UpshiftError } from '../core/errors.js';
import type { ManifestPurpose, ManifestRecord } from '../core/records.js';
import { serializeEnvelope, signEnvelope } from '../trust/envelope.js';
import { verifyManifest } from '../trust/verify-manifest.js';
import type { StageContext } from './context.js';
import { refuseSeqRegression } from './seq-guard.js';

export interface ManifestRequest {
  purpose: ManifestPurpose;
  kind: 'release' | 'rollback';
  version: string;
  commit: string;
  codeHash: string;
  targets: 'all' | string[];
  evidence: ManifestPayload['evidence'];
}

export async function reserveAndSign(ctx: StageContext, req: ManifestRequest): Promise<{ record: ManifestRecord; envelope: string; resumed: boolean }> {
  const { run, config, authority } = ctx;
  const now = ctx.clock.now();
  ctx.mayAct?.(`${ctx.stage}: reserving a seq`);
  await refuseSeqRegression(ctx.store, run.track, ctx.published);
  const record = await ctx.store.manifests.reserve({
    runId: run.id, track: run.track, kind: req.kind, purpose: req.purpose, version: req.version, commit: req.commit, at: now,
    build: (seq) => encodeManifest({
      schema: MANIFEST_SCHEMA, fleet: config.fleet, track: run.track, seq, version: req.version, commit: req.commit,
      code_hash: req.codeHash, created_at: new Date(now).toISOString(), expires_at: new Date(now + authority.manifest_ttl).toISOString(),
      kind: req.kind, targets: req.targets, evidence: req.evidence,
    }),
  });
  ctx.failpoint(`${ctx.stage}:reserved`);
  if (record.envelope) {
    verifyManifest(record.envelope, ctx.keyset);
    return { record, envelope: record.envelope, resumed: true };
  }
  const envelope = serializeEnvelope(signEnvelope(PAYLOAD_TYPES.manifest, record.payload, await ctx.loadSigners()));
  // The gate: what we just signed must verify with the pinned keyset, byte for byte.
  try {
    verifyManifest(envelope, ctx.keyset);
  } catch (err) {
    throw new UpshiftError((err as UpshiftError).code ?? 'E_SIG_INVALID', `the signed manifest does not verify with the pinned keyset: ${(err as Error).message}`, { cause: err });
  }
  ctx.failpoint(`${ctx.stage}:signed`);
  await ctx.store.manifests.setEnvelope(record.track, record.seq, envelope);
  return { record: { ...record, envelope }, envelope, resumed: false };
}
