// Which manifests of one track a node holds for gossip, pure. One manifest per track is not
// enough: after a canary is rolled back, the newest manifest targets only the canaries, and
// a node that joins later would learn nothing it may run. So every node holds the newest
// fleet-wide manifest and, above it, each targeted manifest that is still the newest one
// for at least one of its targets. That set answers, for any node, "the newest manifest that
// targets me" (newestFor), whatever targeted manifests came after. Anything below the
// fleet-wide one is obsolete for every node, and so is a targeted manifest all of whose
// targets have a newer one: both are refused, as a replay of an old manifest would be.

export interface HeldRef {
  seq: number;
  hash: string;
  targets: 'all' | readonly string[];
}

/** Manifests held per track. The pipeline leaves one rollback per failed canary between deploys. */
export const MAX_HELD = 8;

export type Admission<T> =
  | { verdict: 'same' }
  | { verdict: 'accepted'; held: T[]; dropped: T[] }
  | { verdict: 'refused'; code: 'E_SEQ_CONFLICT' | 'E_ROLLBACK'; reason: string };

const targetsNode = (h: HeldRef, node: string): boolean => h.targets === 'all' || h.targets.includes(node);
const bySeqDesc = (a: HeldRef, b: HeldRef): number => b.seq - a.seq;

/** The newest fleet-wide manifest held. */
export function fleetWide<T extends HeldRef>(held: readonly T[]): T | null {
  return [...held].sort(bySeqDesc).find((h) => h.targets === 'all') ?? null;
}

/** The newest manifest held that targets `node` (fleet-wide or naming it): what that node should run. */
export function newestFor<T extends HeldRef>(held: readonly T[], node: string): T | null {
  return [...held].sort(bySeqDesc).find((h) => targetsNode(h, node)) ?? null;
}

/** Whether a manifest advertised as (seq, hash) could join this held set: worth a pull. */
export function worthPulling(held: readonly HeldRef[], seq: number, hash: string): boolean {
  if (held.some((h) => h.hash === hash || h.seq === seq)) return false;
  const base = fleetWide(held);
  return base === null || seq > base.seq;
}

/**
 * Take `m` into the held set, newest first. Same bytes: 'same'. Another manifest with a seq
 * already held: a conflict, the held one stays. Below the fleet-wide one, or superseded for
 * every node it targets: refused. Otherwise accepted, and whatever `m` made obsolete (or the
 * oldest targeted ones, past `max`) is dropped.
 */
export function admit<T extends HeldRef>(held: readonly T[], m: T, max = MAX_HELD): Admission<T> {
  if (held.some((h) => h.hash === m.hash)) return { verdict: 'same' };
  const clash = held.find((h) => h.seq === m.seq);
  if (clash) return { verdict: 'refused', code: 'E_SEQ_CONFLICT', reason: `a different manifest #${m.seq} is already held` };
  const base = fleetWide(held);
  if (base && m.seq < base.seq) {
    return { verdict: 'refused', code: 'E_ROLLBACK', reason: `manifest #${m.seq} is older than the fleet-wide #${base.seq} held` };
  }
  if (m.targets !== 'all' && m.targets.every((n) => held.some((h) => h.seq > m.seq && targetsNode(h, n)))) {
    return { verdict: 'refused', code: 'E_ROLLBACK', reason: `manifest #${m.seq} is superseded: every node it targets has a newer manifest held` };
  }
  const all = [...held, m].sort(bySeqDesc);
  const newBase = fleetWide(all);
  const needed = (h: T): boolean => {
    if (h === m) return true;
    if (h.targets === 'all') return h === newBase;
    if (newBase && h.seq < newBase.seq) return false;
    return h.targets.some((n) => !all.some((o) => o.seq > h.seq && targetsNode(o, n)));
  };
  let keep = all.filter(needed);
  if (keep.length > max) {
    // Past the bound the oldest targeted manifests go; the fleet-wide one and `m` always stay.
    const spare = keep.filter((h) => h !== m && h.targets !== 'all');
    const drop = new Set(spare.slice(spare.length - (keep.length - max)));
    keep = keep.filter((h) => !drop.has(h));
  }
  return { verdict: 'accepted', held: keep, dropped: all.filter((h) => !keep.includes(h)) };
}
