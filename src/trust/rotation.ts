// Key rotation (SPEC: "a new keyset signed by the old and the new threshold"). The new
// keyset is a canonical JSON document under its own payload type, so it can never be
// mistaken for a manifest. Requiring the old threshold stops a stolen new key from
// installing itself; requiring the new threshold proves the new keys are held by someone
// and that the new keyset can sign at all before anyone depends on it.
import { z } from 'zod';
import { canonicalBytes, parseStrictJson } from '../core/canonical-json.js';
import { UpshiftError } from '../core/errors.js';
import { PAYLOAD_TYPES, schemaError } from '../core/manifest.js';
import { signEnvelope, verifyEnvelope, type Envelope } from './envelope.js';
import type { Signer } from './keyfile.js';
import { describeKeyset, loadKeyset, type Keyset } from './keyset.js';

export const KEYSET_SCHEMA = 'upshift.keyset/v1';

const keysetDocumentSchema = z.strictObject({
  schema: z.literal(KEYSET_SCHEMA),
  version: z.int().min(1),
  keys: z
    .array(
      z.strictObject({
        keyid: z.string().min(1),
        public: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters'),
      }),
    )
    .min(1),
  threshold: z.int().min(1),
});

export type KeysetDocument = z.infer<typeof keysetDocumentSchema>;

export interface RotatedKeyset {
  keyset: Keyset;
  version: number;
  document: KeysetDocument;
}

/** The document describing `keyset` as version `version`. */
export function keysetDocument(keyset: Keyset, version: number): KeysetDocument {
  return { schema: KEYSET_SCHEMA, version, ...describeKeyset(keyset) };
}

function validate(value: unknown): KeysetDocument {
  const result = keysetDocumentSchema.safeParse(value);
  if (!result.success) throw schemaError(`${KEYSET_SCHEMA} document`, result.error);
  return result.data;
}

/** Sign a new keyset document. `signers` must cover both the current and the new threshold. */
export function signRotation(document: KeysetDocument, signers: readonly Signer[]): Envelope {
  const doc = validate(document);
  loadKeyset(doc); // refuse to sign a keyset no node could load
  return signEnvelope(PAYLOAD_TYPES.keyset, canonicalBytes(doc), signers);
}

/**
 * Verify a rotation against the keyset in force (`current`, at `currentVersion`) and
 * return the new one. Errors: the envelope's trust errors for either threshold,
 * E_MANIFEST_PARSE / E_MANIFEST_SCHEMA for the document, the keyset's own load errors,
 * E_ROLLBACK when the version does not increase (an old rotation replayed), and
 * E_KEYSET_GAP when it skips a version: each keyset is installed by the one before it,
 * so a node that missed a rotation must take the rotations in between, not leap over them.
 */
export function verifyRotation(env: Envelope, current: Keyset, currentVersion: number): RotatedKeyset {
  const bytes = verifyEnvelope(env, current, PAYLOAD_TYPES.keyset);
  const document = validate(parseStrictJson(bytes));
  const keyset = loadKeyset(document);
  try {
    verifyEnvelope(env, keyset, PAYLOAD_TYPES.keyset);
  } catch (err) {
    if (err instanceof UpshiftError) {
      throw new UpshiftError(err.code, `the new keyset does not sign its own rotation: ${err.message}`, {
        cause: err,
        details: err.details ?? {},
      });
    }
    throw err;
  }
  if (document.version <= currentVersion) {
    throw new UpshiftError('E_ROLLBACK', `keyset version ${document.version} is not newer than the current version ${currentVersion}`, {
      details: { version: document.version, current: currentVersion },
    });
  }
  if (document.version !== currentVersion + 1) {
    const expected = currentVersion + 1;
    const message = `keyset version ${document.version} skips ahead of the current version ${currentVersion}; expected ${expected}`;
    throw new UpshiftError('E_KEYSET_GAP', message, { details: { version: document.version, current: currentVersion, expected } });
  }
  return { keyset, version: document.version, document };
}
