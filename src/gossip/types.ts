// The wire shapes of gossip (SPEC "Gossip"): one zod schema per message body, parsed strictly
// (unknown keys refused) after the sender's signature has been checked, so nothing a peer sends
// is trusted by shape alone. Lengths: the transport caps the whole body (gossip.max_body_bytes)
// before parsing, which already bounds every string; here we bound what costs work per message
// (tracks in a digest, members in a sample) and what must be exact (integers, enums, nonces).
// Per-string length checks were measured at ~4 µs of a 5.7 µs push parse, which dominated the
// 10,000-node simulation, so they are left to the body cap.
import { z } from 'zod';
import { UpshiftError } from '../core/errors.js';

export const LIMITS = {
  /** Tracks one digest may name; a fleet has a handful. */
  tracks: 32,
  /** Member samples one message may carry. */
  members: 64,
} as const;

const nodeId = z.string();
const track = z.string();
const url = z.string();
const hash = z.string();
const nonce = z.string().min(8).max(64);

const digestEntry = z.strictObject({ seq: z.int().nonnegative(), hash });
export const digestSchema = z
  .record(track, digestEntry)
  .refine((d) => Object.keys(d).length <= LIMITS.tracks, `expected at most ${LIMITS.tracks} tracks`);

export const heartbeatSchema = z.strictObject({
  node: nodeId,
  versions: z.record(track, z.string().nullable()),
  code_hash: z.record(track, z.string().nullable()),
  health: z.enum(['ok', 'failing', 'unknown']),
  error_rate: z.number().min(0).nullable(),
  apply_state: z.string(),
  /** Per track, why the last apply ended as it did (refusal, rollback); short. */
  apply_reason: z.record(track, z.string().max(300)).optional(),
  /** The smoke benchmark of the release running now (`regressed` until it has run); absent when not configured. */
  smoke: z.strictObject({ regressed: z.boolean(), detail: z.string().max(300) }).optional(),
  labels: z.record(z.string(), z.string()),
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

/** Strict shape check of an authenticated message's content; E_MALFORMED names the first problem. */
export function parseMessage(content: unknown): GossipMessage {
  const parsed = gossipMessageSchema.safeParse(content);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
  throw new UpshiftError('E_MALFORMED', `malformed gossip message at ${where}: ${issue?.message ?? 'invalid'}`, {
    details: { issues: parsed.error.issues.slice(0, 5).map((i) => ({ path: i.path.map(String).join('.'), message: i.message })) },
  });
}
