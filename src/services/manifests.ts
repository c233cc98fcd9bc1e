// The manifests this authority signed, as files an operator can hand on (a release feed,
// an air-gapped node, an audit): by run (its release, canary, deploy and rollback
// manifests) or by `track#seq`. And the way back in: importing a published envelope the
// store lost (the E_SEQ_REGRESSION repair, stages/seq-guard.ts).
import { UpshiftError } from '../core/errors.js';
import type { ManifestRecord } from '../core/records.js';
import { storedHeld } from '../node/agent/held-store.js';
import { parseEnvelope, serializeEnvelope } from '../trust/envelope.js';
import { loadKeyset } from '../trust/keyset.js';
import { envelopeHash, verifyManifest } from '../trust/verify-manifest.js';
import type { Outcome, ServiceContext } from './context.js';

export interface ExportedManifest {
  track: string;
  seq: number;
  purpose: ManifestRecord['purpose'];
  kind: ManifestRecord['kind'];
  version: string;
  run_id: string;
  envelope: string;
}

const TRACK_SEQ = /^([^\s#]{1,64})#([1-9][0-9]{0,15})$/;

/**
 * `what` is a run id (its newest signed manifest, or the one of `purpose`) or `track#seq`.
 * Only signed manifests are exported: a reserved seq whose signature was never recorded is not one.
 */
export async function findManifest(ctx: Pick<ServiceContext, 'store'>, what: string, purpose?: ManifestRecord['purpose']): Promise<Outcome<ExportedManifest>> {
  const { store } = ctx;
  const bySeq = TRACK_SEQ.exec(what);
  let record: ManifestRecord | null;
  if (bySeq) {
    if (purpose) throw new UpshiftError('E_USAGE', `--purpose picks among a run's manifests; ${what} already names one`);
    record = await store.manifests.get(bySeq[1] as string, Number(bySeq[2]));
    if (!record) return heldElsewhere(ctx, bySeq[1] as string, Number(bySeq[2]), what);
  } else {
    const run = await store.requireRun(what);
    const signed = (await store.manifests.list(run.track)).filter((m) => m.runId === run.id && m.envelope !== null && (!purpose || m.purpose === purpose));
    record = signed[signed.length - 1] ?? null;
    if (!record) throw new UpshiftError('E_RUN_NOT_FOUND', `run ${run.id} has no signed${purpose ? ` ${purpose}` : ''} manifest (it ended ${run.status} at ${run.stage})`);
  }
  if (record.envelope === null) throw new UpshiftError('E_RUN_NOT_FOUND', `${record.track}#${record.seq} was reserved but never signed`);
  const m = { track: record.track, seq: record.seq, purpose: record.purpose, kind: record.kind, version: record.version, run_id: record.runId, envelope: record.envelope };
  return { reason: `${m.track}#${m.seq} (${m.purpose} of run ${m.run_id}, ${m.version})`, evidence: m };
}

const seqOf = (envelope: string): number | null => {
  try {
    return (JSON.parse(Buffer.from(parseEnvelope(envelope).payload, 'base64').toString('utf8')) as { seq?: number }).seq ?? null;
  } catch {
    return null;
  }
};

/**
 * `track#seq` signed by no run of this store: one imported here, or one this node holds by
 * gossip (after a lost commit, the copy to import into the authority's store). Not verified
 * here: `manifest import` and every node verify it.
 */
async function heldElsewhere(ctx: Pick<ServiceContext, 'store'>, track: string, seq: number, what: string): Promise<Outcome<ExportedManifest>> {
  const imported = await ctx.store.manifests.imported(track, seq);
  const envelope = imported ?? (await storedHeld(ctx.store, track)).find((e) => seqOf(e) === seq);
  if (!envelope) throw new UpshiftError('E_RUN_NOT_FOUND', `no manifest ${what} was signed here or is held by this node; see \`upshift pipeline show RUN\``);
  const payload = JSON.parse(Buffer.from(parseEnvelope(envelope).payload, 'base64').toString('utf8')) as {
    kind: ManifestRecord['kind']; version: string; evidence: { run_id: string };
  };
  const m: ExportedManifest = {
    track, seq, purpose: payload.kind, kind: payload.kind, version: payload.version, run_id: payload.evidence.run_id, envelope,
  };
  return { reason: `${track}#${seq} (${imported ? 'imported' : 'held by this node'}, ${m.version})`, evidence: m };
}

export interface ImportedManifest {
  track: string;
  seq: number;
  version: string;
  /** stored: the store had nothing at (track, seq); same: it already held this envelope. */
  outcome: 'stored' | 'same';
  hash: string;
  /** The run named in the manifest's evidence (a run of the store that signed it, maybe not of this one). */
  signed_by_run: string;
}

/**
 * Store a published manifest envelope this store lost (or never had) for its (track, seq):
 * verified with the fleet's keyset first, for this fleet and one of this authority's tracks.
 * Expiry is not checked: an expired manifest was still published and still holds its seq.
 * A different manifest at that seq: E_SEQ_CONFLICT. Nothing is written on refusal; an
 * accepted import is audited (`manifest.imported`). It belongs to no run of this store:
 * the seq line counts it, so the next reservation of its track is one above it.
 */
export async function importManifest(ctx: ServiceContext, input: Uint8Array | string): Promise<Outcome<ImportedManifest>> {
  const { config, store } = ctx;
  if (!config.authority) throw new UpshiftError('E_CONFIG', 'this config has no `authority:` section: manifests are imported into the authority\'s store');
  const verified = verifyManifest(input, loadKeyset(config.trust));
  const p = verified.payload;
  if (p.fleet !== config.fleet) {
    throw new UpshiftError('E_WRONG_FLEET', `manifest is for fleet "${p.fleet}", this authority's is "${config.fleet}"`, { details: { fleet: p.fleet } });
  }
  if (!(p.track in config.authority.tracks)) {
    throw new UpshiftError('E_WRONG_TRACK', `manifest is for track "${p.track}", which this authority does not release`, { details: { track: p.track } });
  }
  // one text for one envelope: the form the authority stores and gossip carries
  const text = serializeEnvelope(verified.envelope);
  const payload = Buffer.from(verified.envelope.payload, 'base64');
  const outcome = await store.manifests.importSigned(p.track, p.seq, payload, text);
  const m: ImportedManifest = { track: p.track, seq: p.seq, version: p.version, outcome, hash: envelopeHash(text), signed_by_run: p.evidence.run_id };
  await store.appendEvent({ at: ctx.clock.now(), runId: null, stage: null, kind: 'manifest.imported', actor: ctx.actor, data: { ...m } });
  ctx.log.info({ track: m.track, seq: m.seq, outcome, actor: ctx.actor }, 'manifest imported');
  const said = outcome === 'stored' ? 'stored' : 'already held (the same envelope)';
  return { reason: `${m.track}#${m.seq} (${m.version}) ${said}; the next seq of ${m.track} is above it`, evidence: m };
}
