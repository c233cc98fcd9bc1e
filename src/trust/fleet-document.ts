// A document the authority signs with the release keyset for the whole fleet (the revocation
// list, the fleet settings): a zod schema with `schema`, `fleet` and `seq`, canonical bytes in
// a DSSE envelope of its own payload type. One place signs it, recognises it and verifies it:
// the exact bytes against the keyset (threshold applies), strict canonical parse, the
// schema, then the fleet.
import { z } from 'zod';
import { canonicalBytes, parseStrictJson } from '../core/canonical-json.js';
import { UpshiftError } from '../core/errors.js';
import { schemaError } from '../core/manifest.js';
import { parseEnvelope, serializeEnvelope, signEnvelope, verifyEnvelope, type Envelope } from './envelope.js';
import type { Signer } from './keyfile.js';
import type { Keyset } from './keyset.js';

export const isoTime = z.string().refine((s) => Number.isFinite(Date.parse(s)), 'expected an ISO 8601 time');

export interface FleetDocumentKind<T extends { fleet: string; seq: number }> {
  /** `upshift.revocations/v1`: the `schema` field every document of the kind carries. */
  schema: string;
  payloadType: string;
  /** How a person names one: "revocation list", "fleet settings". */
  noun: string;
  shape: z.ZodType<T>;
}

export function fleetDocument<T extends { fleet: string; seq: number }>(kind: FleetDocumentKind<T>) {
  const what = `${kind.schema} ${kind.noun}`;
  return {
    sign(doc: Omit<T, 'schema'>, signers: readonly Signer[]): string {
      const parsed = kind.shape.safeParse({ schema: kind.schema, ...doc });
      if (!parsed.success) throw schemaError(what, parsed.error);
      return serializeEnvelope(signEnvelope(kind.payloadType, canonicalBytes(parsed.data), signers));
    },
    /** Whether an envelope (JSON text) claims to be one; says nothing of its validity. */
    isEnvelope(text: string): boolean {
      try {
        return (JSON.parse(text) as Partial<Envelope>).payloadType === kind.payloadType;
      } catch {
        return false;
      }
    },
    verify(text: string, keyset: Keyset, fleet: string): T {
      const bytes = verifyEnvelope(parseEnvelope(text), keyset, kind.payloadType);
      const parsed = kind.shape.safeParse(parseStrictJson(bytes));
      if (!parsed.success) throw schemaError(what, parsed.error);
      if (parsed.data.fleet !== fleet) {
        throw new UpshiftError('E_WRONG_FLEET', `${kind.noun} #${parsed.data.seq} is for fleet "${parsed.data.fleet}", not "${fleet}"`);
      }
      return parsed.data;
    },
  };
}
