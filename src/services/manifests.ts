// The manifests this authority signed, as files an operator can hand on (a release feed,
// an air-gapped node, an audit): by run (its release, canary, deploy and rollback
// manifests) or by `track#seq`.
import { UpshiftError } from '../core/errors.js';
import type { ManifestRecord } from '../core/records.js';
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
    if (!record) throw new UpshiftError('E_RUN_NOT_FOUND', `no manifest ${what} was signed here; see \`upshift pipeline show RUN\``);
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
