// The fleet settings this node holds (trust/fleet-settings.ts): verified when offered, the
// newest kept in the store and served under FLEET_SETTINGS_KEY in its gossip digest, so the
// authority's signed value reaches every node by the path the revocation list takes. The
// manifest source hands it what arrives under that key.
import { toUpshiftError, UpshiftError } from '../../core/errors.js';
import type { StateStore } from '../../core/ports.js';
import { verifyFleetSettings, type FleetSettings } from '../../trust/fleet-settings.js';
import type { Keyset } from '../../trust/keyset.js';
import type { ApplyLog } from '../apply/context.js';

/** Where the newest verified settings envelope is kept across restarts. */
import { FLEET_SETTINGS_KV } from './held-interval.js';

export { FLEET_SETTINGS_KV, silentAfterHeld } from './held-interval.js';

interface Held {
  envelope: string;
  hash: string;
  settings: FleetSettings;
}

export class HeldSettings {
  private held: Held | null = null;

  private constructor(private readonly deps: { store: StateStore; keyset: Keyset; fleet: string; log?: ApplyLog }) {}

  /** What the store kept, if it still verifies (the keyset may have rotated since). */
  static async open(deps: HeldSettings['deps'], hash: (envelope: string) => string): Promise<HeldSettings> {
    const out = new HeldSettings(deps);
    const stored = await deps.store.kv.get(FLEET_SETTINGS_KV);
    if (stored !== null) {
      try {
        const settings = verifyFleetSettings(stored, deps.keyset, deps.fleet);
        out.held = { envelope: stored, hash: hash(stored), settings };
      } catch (err) {
        const code = toUpshiftError(err).code;
        deps.log?.warn({ module: 'gossip', code }, 'stored fleet settings no longer verify; not using them');
      }
    }
    return out;
  }

  get settings(): FleetSettings | null {
    return this.held?.settings ?? null;
  }

  get envelope(): string | null {
    return this.held?.envelope ?? null;
  }

  /** For the digest. */
  get entry(): { seq: number; hash: string } | null {
    return this.held ? { seq: this.held.settings.seq, hash: this.held.hash } : null;
  }

  wants(seq: number): boolean {
    return seq > (this.held?.settings.seq ?? -1);
  }

  holds(hash: string): boolean {
    return this.held?.hash === hash;
  }

  /** A newer signed value: kept and served. An older one is refused (E_ROLLBACK), as a revocation list is. */
  async accept(envelope: string, hash: string): Promise<'accepted' | 'same'> {
    const settings = verifyFleetSettings(envelope, this.deps.keyset, this.deps.fleet);
    const have = this.held;
    if (have && settings.seq === have.settings.seq) {
      if (have.hash === hash) return 'same';
      throw new UpshiftError('E_SEQ_CONFLICT', `different fleet settings #${settings.seq} are already held`);
    }
    if (have && settings.seq < have.settings.seq) {
      const why = `fleet settings #${settings.seq} are older than the #${have.settings.seq} held`;
      throw new UpshiftError('E_ROLLBACK', why);
    }
    await this.deps.store.kv.set(FLEET_SETTINGS_KV, envelope);
    this.held = { envelope, hash, settings };
    const { interval_ms, base_ms, pinned } = settings.heartbeat;
    const fields = { module: 'gossip', seq: settings.seq, interval_ms, base_ms, pinned: pinned.length };
    this.deps.log?.info(fields, 'fleet settings accepted');
    return 'accepted';
  }
}

let lastRead: { envelope: string; fleet: string; interval: number | null } | null = null;

/**
 * The heartbeat interval of the fleet settings this node's store holds, verified against the
 * keyset (the result kept per envelope, so a read costs one kv lookup); null without any.
 */
export async function heldInterval(
  store: Pick<StateStore, 'kv'>, keyset: Keyset, fleet: string,
): Promise<number | null> {
  const envelope = await store.kv.get(FLEET_SETTINGS_KV);
  if (envelope === null) return null;
  if (lastRead?.envelope === envelope && lastRead.fleet === fleet) return lastRead.interval;
  let interval: number | null = null;
  try {
    interval = verifyFleetSettings(envelope, keyset, fleet).heartbeat.interval_ms;
  } catch {
    // not ours to apply: the configured bound stands
  }
  lastRead = { envelope, fleet, interval };
  return interval;
}
