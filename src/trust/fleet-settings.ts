// Fleet settings the authority decides at run time and every node applies: today the
// heartbeat interval (core/decisions/heartbeat-interval.ts). Signed by the release keyset like
// the revocation list, and carried the same way: by gossip under the digest key
// FLEET_SETTINGS_KEY, newest `seq` wins, an older one is refused. A node never applies a value
// that did not verify: without settings it sends at its own gossip.report_every.
import { z } from 'zod';
import { fleetDocument, isoTime } from './fleet-document.js';
import type { Signer } from './keyfile.js';
import type { Keyset } from './keyset.js';

export const FLEET_SETTINGS_PAYLOAD_TYPE = 'application/vnd.upshift.fleet-settings+json';
export const FLEET_SETTINGS_SCHEMA = 'upshift.fleet-settings/v1';
/** Its digest key: like the revocation list's, no track name can collide with it. */
export const FLEET_SETTINGS_KEY = '~settings';


const settingsSchema = z.strictObject({
  schema: z.literal(FLEET_SETTINGS_SCHEMA),
  fleet: z.string().min(1),
  /** The authority's clock in ms when it signed: a new leader's settings are newer without a shared counter. */
  seq: z.int().min(1),
  issued_at: isoTime,
  heartbeat: z.strictObject({
    /** What canaries, their control sample and applying nodes send at. */
    base_ms: z.int().min(100).max(3_600_000),
    /** What every other node sends at. */
    interval_ms: z.int().min(100).max(3_600_000),
    /** Nodes told to stay at the base interval (canaries and their control sample). */
    pinned: z.array(z.string().min(1).max(63)).max(100_000),
  }),
});

export type FleetSettings = z.infer<typeof settingsSchema>;

const doc = fleetDocument({ schema: FLEET_SETTINGS_SCHEMA, payloadType: FLEET_SETTINGS_PAYLOAD_TYPE, noun: 'fleet settings', shape: settingsSchema });

export function signFleetSettings(settings: Omit<FleetSettings, 'schema'>, signers: readonly Signer[]): string {
  return doc.sign(settings, signers);
}

/** Whether an envelope (JSON text) claims to be fleet settings; says nothing of its validity. */
export function isFleetSettingsEnvelope(text: string): boolean {
  return doc.isEnvelope(text);
}

/** The exact bytes against the keyset (threshold applies), strict canonical parse, schema, fleet. */
export function verifyFleetSettings(text: string, keyset: Keyset, fleet: string): FleetSettings {
  return doc.verify(text, keyset, fleet);
}
