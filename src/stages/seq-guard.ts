// A new leader must never sign a second, different manifest for a seq nodes already hold.
// Without synchronous replication a failover can lose the last commits: the store's newest
// seq of a track would then be below one this node already saw published, and the next
// reservation would reuse it. Before reserving, the newest seq this node holds (its own
// gossip view, verified on arrival) and the newest on the NATS channel (verified when read)
// must each be in the store as that exact envelope, or as the
// same reserved payload not yet signed (re-signing gives the same bytes); otherwise
// E_SEQ_REGRESSION, and nothing is reserved. The repair is importing the verified envelope
// (`upshift manifest import`, services/manifests.ts).
import { UpshiftError } from '../core/errors.js';
import type { StateStore } from '../core/ports.js';
import { parseEnvelope } from '../trust/envelope.js';

export interface Published { seq: number; envelope: string }
/** The newest manifest this node holds for a track, and the channel's newest (each or none). */
export type PublishedView = (track: string) => Published | null | readonly Published[] | Promise<Published | null | readonly Published[]>;

const samePayload = (payload: Uint8Array, envelope: string): boolean =>
  Buffer.from(parseEnvelope(envelope).payload, 'base64').equals(Buffer.from(payload));

async function storedAs(store: StateStore, track: string, seq: number, envelope: string): Promise<'same' | 'different' | 'missing'> {
  const m = await store.manifests.get(track, seq);
  if (m) return m.envelope === envelope || (m.envelope === null && samePayload(m.payload, envelope)) ? 'same' : 'different';
  // deployment manifests share the track's seq line
  for (const d of await store.deployments.list({ limit: 50 })) {
    if (d.track !== track) continue;
    const dm = (await store.deployments.manifests(d.id)).find((x) => x.seq === seq);
    if (dm) return dm.envelope === envelope || (dm.envelope === null && samePayload(dm.payload, envelope)) ? 'same' : 'different';
  }
  // imported by `upshift manifest import` (no run of this store signed it)
  const kept = await store.manifests.imported(track, seq);
  return kept === null ? 'missing' : kept === envelope ? 'same' : 'different';
}

/** E_SEQ_REGRESSION unless the store holds the newest manifest this node saw published on `track`. */
export async function refuseSeqRegression(store: StateStore, track: string, published: PublishedView | undefined): Promise<void> {
  if (!published) return;
  const view = await published(track);
  for (const seen of view === null ? [] : Array.isArray(view) ? view as readonly Published[] : [view as Published]) {
    await refuseOne(store, track, seen);
  }
}

async function refuseOne(store: StateStore, track: string, seen: Published): Promise<void> {
  const held = await storedAs(store, track, seen.seq, seen.envelope);
  if (held === 'same') return;
  throw new UpshiftError('E_SEQ_REGRESSION',
    `track ${track}: seq ${seen.seq} was already published (this node holds it) but the store `
    + `${held === 'missing' ? 'does not hold it' : 'holds a different manifest for it'}; the store lost writes `
    + '(a failover without a synchronous standby?). Nothing is reserved: import the verified envelope into the store '
    + `first (upshift manifest export ${track}#${seen.seq} on a node that holds it, then upshift manifest import FILE)`,
    { details: { track, seq: seen.seq, store: held } });
}
