// The wire shapes of gossip (SPEC "Gossip"): one zod schema per message body, parsed strictly
// (unknown keys refused) after the sender's signature has been checked, so nothing a peer sends
// is trusted by shape alone. Lengths: the transport caps the whole body (gossip.max_body_bytes)
// before parsing, and we bound what costs work per message (tracks in a digest, members in a
// sample) and what must be exact (integers, enums, nonces). A heartbeat is also kept, one per
// node, and read back by canary, deploy and `fleet ls` (a 2 MB one of 50,000 labels made every
// `fleet ls` take seconds), so each of its strings and records has its own bound, records
// counted before their entries are parsed; past one it is refused as E_HEARTBEAT_TOO_LARGE.
// Per-string checks on the rest of a message were measured to dominate the parse of the
// 10,000-node simulation and are left to the body cap; the heartbeat bounds cost ~1 µs on a
// simulated push and ~3 µs on one with a full heartbeat (against ~1.6 ms for its Ed25519 check).
import { z } from 'zod';
import { UpshiftError } from '../core/errors.js';
import { boundedRecord, labelsSchema } from '../core/labels.js';

export const LIMITS = {
  /** Tracks one digest or heartbeat may name; a fleet has a handful. */
  tracks: 32,
  /** Member samples one message may carry. */
  members: 64,
  /** Other manifests one digest entry may advertise besides a track's newest (gossip/held.ts MAX_HELD). */
  held: 8,
  /** A node id or a track name (63 in upshift.yaml). */
  name: 64,
  /** A version: the manifest's own bound. */
  version: 200,
  /** A hex digest (sha256 is 64); room for a longer one. */
  hash: 128,
  /** The packed apply state older nodes send, `track=state#seq` per track, comma-separated. */
  applyState: 4096,
  /** An apply reason or a smoke benchmark verdict. */
  reason: 300,
} as const;

const nodeId = z.string();
const track = z.string();
const url = z.string();
const hash = z.string();
const nonce = z.string().min(8).max(64);
// A heartbeat is kept, so each of its strings has its own bound; the rest of a message is not.
const name = z.string().max(LIMITS.name);
const perTrack = <V extends z.core.SomeType>(value: V) => boundedRecord(name, value, LIMITS.tracks, 'tracks');

const heldEntry = z.strictObject({ seq: z.int().nonnegative(), hash });
// `seq`/`hash` name a track's newest manifest; `also` the others held (the newest fleet-wide one
// and targeted ones above it, gossip/held.ts), absent when there are none.
const digestEntry = z.strictObject({ seq: z.int().nonnegative(), hash, also: z.array(heldEntry).max(LIMITS.held).optional() });
export const digestSchema = z
  .record(track, digestEntry)
  .refine((d) => Object.keys(d).length <= LIMITS.tracks, `expected at most ${LIMITS.tracks} tracks`);

export const heartbeatSchema = z.strictObject({
  node: name,
  versions: perTrack(z.string().max(LIMITS.version).nullable()),
  code_hash: perTrack(z.string().max(LIMITS.hash).nullable()),
  health: z.enum(['ok', 'failing', 'unknown']),
  error_rate: z.number().min(0).nullable(),
  // Per track, what the newest apply is and its seq. Older nodes pack it into one string
  // (`testnet=confirmed#4,production=probation#2`, or `idle`), still accepted and read by
  // node/agent/reports.ts; this node sends the record.
  apply_state: z.union([
    z.string().max(LIMITS.applyState),
    perTrack(z.strictObject({ state: name, seq: z.int().nonnegative().nullable() })),
  ]),
  /** Per track, why the last apply ended as it did (refusal, rollback); short. */
  apply_reason: perTrack(z.string().max(LIMITS.reason)).optional(),
  /** The smoke benchmark of the release running now (`regressed` until it has run); absent when not configured. */
  smoke: z.strictObject({ regressed: z.boolean(), detail: z.string().max(LIMITS.reason) }).optional(),
  /** As in a certificate: at most 32, names of 63 and values of 256 characters, no control characters. */
  labels: labelsSchema,
  /** Per track, this node's part in a deployment in progress (the manifest it runs names it a canary); absent otherwise. */
  roles: perTrack(z.enum(['canary'])).optional(),
});

/** A member as another node knows it; `age_ms` is how long ago that node last heard from it. */
export const memberSampleSchema = z.strictObject({ id: nodeId, url, age_ms: z.int().nonnegative() });
const members = z.array(memberSampleSchema).max(LIMITS.members);

const bodySchema = z.discriminatedUnion('kind', [
  // Requests. `url` is how the sender wants to be reached: the only address we pull from.
  z.strictObject({ kind: z.literal('push'), url, digest: digestSchema, heartbeat: heartbeatSchema, members }),
  z.strictObject({ kind: z.literal('pull'), track, hash }),
  // First contact with a seed whose node id we do not know: the only unaddressed request, and it
  // changes nothing on the receiver, so replaying it elsewhere gains nothing. Answered with an ack.
  z.strictObject({ kind: z.literal('hello') }),
  z.strictObject({ kind: z.literal('sync'), url, digest: digestSchema, heartbeat: heartbeatSchema, members }),
  // Responses, bound to their request by `re`.
  z.strictObject({ kind: z.literal('ack'), digest: digestSchema }),
  z.strictObject({ kind: z.literal('manifest'), track, envelope: z.string().nullable() }),
  z.strictObject({ kind: z.literal('sync-reply'), digest: digestSchema, heartbeat: heartbeatSchema, members }),
]);

export const gossipMessageSchema = z.strictObject({
  from: nodeId,
  /** null only on a hello, the first contact through a seed URL whose node id is not known yet. */
  to: nodeId.nullable(),
  /** Sender's clock, ms since the epoch; checked against the replay window. */
  at: z.int(),
  nonce,
  /** The nonce of the request this answers; null on requests. */
  re: nonce.nullable(),
  body: bodySchema,
});

export type Digest = z.output<typeof digestSchema>;
export type Heartbeat = z.output<typeof heartbeatSchema>;
export type MemberSample = z.output<typeof memberSampleSchema>;
export type GossipMessage = z.output<typeof gossipMessageSchema>;
export type Body = GossipMessage['body'];
export type BodyKind = Body['kind'];
export type BodyOf<K extends BodyKind> = Extract<Body, { kind: K }>;

export const REQUEST_KINDS: ReadonlySet<BodyKind> = new Set(['push', 'pull', 'sync', 'hello']);

/**
 * Strict shape check of an authenticated message's content: E_HEARTBEAT_TOO_LARGE when its
 * heartbeat passes a bound, else E_MALFORMED; both name the first problem.
 */
export function parseMessage(content: unknown): GossipMessage {
  const parsed = gossipMessageSchema.safeParse(content);
  if (parsed.success) return parsed.data;
  const inHeartbeat = (i: z.core.$ZodIssue) => i.path[0] === 'body' && i.path[1] === 'heartbeat';
  const oversize = parsed.error.issues.find((i) => inHeartbeat(i) && tooBig(i));
  const issue = oversize ?? parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
  if (oversize) {
    const detail = oversize.code === 'invalid_key' ? `key ${oversize.issues[0]?.message ?? 'too long'}` : oversize.message;
    const message = `heartbeat too large at ${where}: ${detail}`;
    throw new UpshiftError('E_HEARTBEAT_TOO_LARGE', message, { details: { path: where } });
  }
  throw new UpshiftError('E_MALFORMED', `malformed gossip message at ${where}: ${issue?.message ?? 'invalid'}`, {
    details: { issues: parsed.error.issues.slice(0, 5).map((i) => ({ path: i.path.map(String).join('.'), message: i.message })) },
  });
}

/** A bound passed: a string, a record's entry count, or a record key too long (zod nests that one). */
export function tooBig(issue: z.core.$ZodIssue): boolean {
  if (issue.code === 'too_big') return true;
  return issue.code === 'invalid_key' && issue.issues.some((i) => i.code === 'too_big');
}
