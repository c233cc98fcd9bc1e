// What a process without a gossip agent (the CLI's `pipeline run|advance`, its tools) knows was
// published: the newest manifest per track its node holds, as the daemon's agent stored it
// after verifying it. The seq guard (stages/seq-guard.ts) refuses to reserve at or below it
// unless the store holds that envelope; the daemon gives its agent's view and the channel's.
import type { StateStore } from '../core/store-ports.js';
import { storedHeld } from '../node/agent/held-store.js';
import { parseEnvelope } from '../trust/envelope.js';
import type { Published, PublishedView } from '../stages/seq-guard.js';

const seqOf = (envelope: string): number | null => {
  try {
    const seq = (JSON.parse(Buffer.from(parseEnvelope(envelope).payload, 'base64').toString('utf8')) as { seq?: unknown }).seq;
    return typeof seq === 'number' ? seq : null;
  } catch {
    return null; // unreadable: the daemon's agent never stores such a thing; nothing to compare
  }
};

/** The newest envelope held for each track in this store's gossip held set. */
export function storedHeldView(store: StateStore): PublishedView {
  return async (track) => {
    const held = (await storedHeld(store, track)).map((envelope) => ({ seq: seqOf(envelope), envelope }));
    const newest = held.filter((h): h is Published => h.seq !== null).sort((a, b) => b.seq - a.seq)[0];
    return newest ?? null;
  };
}
