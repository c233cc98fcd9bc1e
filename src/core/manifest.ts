// The release manifest: its schema, its exact bytes, the DSSE pre-authentication
// encoding that signatures cover, and the pure checks a node runs before acting on one
// (SPEC "Trust: the release manifest"). Signing and verifying live in src/trust.
import { z } from 'zod';
import { canonicalize, parseStrictJson } from './canonical-json.js';
import { UpshiftError } from './errors.js';

/** DSSE payload types. Signatures cover the type, so one kind of document can never pass as another. */
export const PAYLOAD_TYPES = {
  manifest: 'application/vnd.upshift.manifest+json',
  heartbeat: 'application/vnd.upshift.heartbeat+json',
  keyset: 'application/vnd.upshift.keyset+json',
  selftest: 'application/vnd.upshift.selftest+json',
} as const;

export const MANIFEST_SCHEMA = 'upshift.manifest/v1';
/**
 * v2 adds `rollout`: what a deployment asks of the nodes it targets (deploy-policy.ts).
 * Nodes accept v1 and v2; a v1 manifest carries no rollout and nodes use their own config.
 */
export const MANIFEST_SCHEMA_V2 = 'upshift.manifest/v2';

const HEX64 = /^[0-9a-f]{64}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// The round trip through Date rejects calendar nonsense such as February 30th.
const timestamp = z
  .string()
  .regex(ISO_UTC, 'expected an ISO-8601 UTC time like 2025-01-31T12:00:00.000Z')
  .refine((s) => {
    const ms = Date.parse(s);
    return Number.isFinite(ms) && new Date(ms).toISOString() === s;
  }, 'not a real calendar time');

const metric = z.strictObject({
  value: z.number(),
  better: z.enum(['lower', 'higher']),
  baseline: z.number().nullable(),
  change: z.number().nullable(),
});

const evidence = z.strictObject({
  run_id: z.string(),
  test: z
    .strictObject({
      passed: z.int().nonnegative(),
      failed: z.int().nonnegative(),
      skipped: z.int().nonnegative(),
      pass_rate: z.number().min(0).max(1).describe('passed / (passed + failed), from 0 to 1'),
    })
    .nullable(),
  benchmark: z
    .strictObject({
      baseline_version: z.string().nullable(),
      regressions: z.int().nonnegative(),
      metrics: z.record(z.string(), metric),
    })
    .nullable(),
  notes: z.array(z.string()),
});

/** The part of a deployment's policy that nodes enforce, and where this manifest sits in it. */
const rollout = z.strictObject({
  key: z.string().min(1).max(63),
  deployment: z.string().min(1).max(100),
  /** The deployment's version number under its key. */
  number: z.int().min(1),
  strategy: z.enum(['rolling', 'canary', 'blue_green']),
  /** canary / wave: the nodes named move now; complete: everyone runs it; revert: back to the stable release. */
  phase: z.enum(['canary', 'wave', 'complete', 'revert']),
  wave: z.int().min(0),
  /** The nodes of the canary wave, so a node can say in its heartbeat that it is one. */
  canaries: z.array(z.string().min(1)).max(10_000),
  healthy_deadline: z.int().min(1),
  min_healthy: z.int().min(0),
  /** Applies outside a node's maintenance windows; recorded as such. */
  urgent: z.boolean(),
});
export type Rollout = z.infer<typeof rollout>;

export const manifestPayloadSchema = z
  .strictObject({
    schema: z.enum([MANIFEST_SCHEMA, MANIFEST_SCHEMA_V2]),
    fleet: z.string().min(1),
    track: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'expected lowercase letters, digits, "_" and "-"'),
    seq: z.int().min(1).describe('monotonic per track; nodes refuse anything below their floor'),
    version: z.string().min(1).max(200),
    commit: z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, 'expected a full lowercase hex commit id'),
    code_hash: z.string().regex(HEX64, 'expected 64 lowercase hex characters'),
    created_at: timestamp,
    expires_at: timestamp,
    kind: z.enum(['release', 'rollback']),
    targets: z.union([
      z.literal('all'),
      z
        .array(z.string().min(1))
        .min(1)
        .refine((ids) => new Set(ids).size === ids.length, 'node ids must not repeat'),
    ]),
    bundle: z
      .strictObject({
        url: z.string().min(1),
        sha256: z.string().regex(HEX64, 'expected 64 lowercase hex characters'),
        length: z.int().min(1),
      })
      .optional(),
    evidence,
    rollout: rollout.optional(),
  })
  .refine((p) => Date.parse(p.expires_at) > Date.parse(p.created_at), {
    message: 'expires_at must be later than created_at',
    path: ['expires_at'],
  })
  .refine((p) => (p.schema === MANIFEST_SCHEMA_V2) === (p.rollout !== undefined), {
    message: `rollout is carried by ${MANIFEST_SCHEMA_V2} manifests, and only by them`,
    path: ['rollout'],
  });

export type ManifestPayload = z.infer<typeof manifestPayloadSchema>;

/** Turn zod issues into one E_MANIFEST_SCHEMA listing every problem by dot-path. */
export function schemaError(what: string, error: z.ZodError): UpshiftError {
  const issues = error.issues.map((i) => ({ path: i.path.length ? i.path.map(String).join('.') : '(root)', message: i.message }));
  const list = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return new UpshiftError('E_MANIFEST_SCHEMA', `${what} is not valid: ${list}`, { details: { issues } });
}

function validate(value: unknown): ManifestPayload {
  const result = manifestPayloadSchema.safeParse(value);
  if (!result.success) throw schemaError(`${MANIFEST_SCHEMA} manifest`, result.error);
  return result.data;
}

/** The exact bytes that get signed: schema-checked, then canonical JSON in UTF-8. */
export function encodeManifest(payload: ManifestPayload): Uint8Array {
  return new TextEncoder().encode(canonicalize(validate(payload)));
}

/** Parse verified payload bytes: strict canonical JSON first, then the schema. */
export function decodeManifest(bytes: Uint8Array): ManifestPayload {
  return validate(parseStrictJson(bytes));
}

/**
 * DSSE v1 pre-authentication encoding:
 * "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths as ASCII decimal byte counts.
 * Length-prefixing makes the split between type and body unambiguous.
 */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const enc = new TextEncoder();
  const type = enc.encode(payloadType);
  const head = enc.encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}
