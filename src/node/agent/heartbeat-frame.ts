// A heartbeat as the NATS channel carries it: the node's own heartbeat, its clock, a nonce,
// signed with the node's gossip key under its own DSSE payload type (so a frame can never
// pass as a gossip message or a manifest) and carrying the node's certificate. NATS is never
// trusted: the authority checks every frame as gossip checks a message, and refuses, each
// with its own code, a frame too large (E_FRAME_TOO_LARGE), unsigned or signed badly
// (E_SIG_INVALID, E_NOT_CERTIFIED, E_REVOKED), not canonical (E_NOT_CANONICAL), of a signer
// other than the node its subject names (E_CHANNEL_SUBJECT), or replayed (E_REPLAY).
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { isUpshiftError, toUpshiftError, UpshiftError } from '../../core/errors.js';
import type { SignedMessage } from '../../gossip/ports.js';
import { heartbeatSchema, LIMITS, type Heartbeat } from '../../gossip/types.js';
import type { Ed25519MessageAuth } from './message-auth.js';

export const HEARTBEAT_FRAME_TYPE = 'application/vnd.upshift.heartbeat-frame+json';

const frameSchema = z.strictObject({
  from: z.string().max(LIMITS.name),
  /** The sender's clock (ms): checked against the replay window, and newer than its last frame. */
  at: z.int(),
  nonce: z.string().min(8).max(64),
  heartbeat: heartbeatSchema,
});

const encoder = new TextEncoder();

/** The frame a node publishes on `upshift.<fleet>.hb.<node>`. */
export function heartbeatFrame(auth: Pick<Ed25519MessageAuth, 'seal'>, heartbeat: Heartbeat, at: number): Uint8Array {
  return encoder.encode(JSON.stringify(auth.seal({ from: heartbeat.node, at, nonce: randomUUID(), heartbeat }, HEARTBEAT_FRAME_TYPE)));
}

export interface FrameCheckDeps {
  /** The node's message auth (its certificate cache, cached keys, revocations); frames open under HEARTBEAT_FRAME_TYPE. */
  auth: Pick<Ed25519MessageAuth, 'open'>;
  clock: { now(): number };
  /** gossip.replay_window: a frame stamped further than this from our clock is refused. */
  windowMs: number;
  maxBytes: number;
}

/**
 * The authority's check of heartbeat frames. Replay: a heartbeat is a node's latest state,
 * so per node a frame must be newer than the last one accepted (which also refuses the same
 * frame twice) and inside the replay window. The stream keeps each node's newest frame, so a
 * restarted authority reads it once more: it passes while it is inside the window.
 */
export class HeartbeatFrames {
  private readonly newest = new Map<string, number>();

  constructor(private readonly deps: FrameCheckDeps) {}

  /** The heartbeat and when it was said (the sender's clock, never later than ours); throws its refusal. */
  check(subjectNode: string, data: Uint8Array): { heartbeat: Heartbeat; at: number } {
    if (data.length > this.deps.maxBytes) {
      const why = `heartbeat frame of ${data.length} bytes on ${subjectNode}'s subject is over ${this.deps.maxBytes}`;
      throw new UpshiftError('E_FRAME_TOO_LARGE', why);
    }
    let wire: unknown;
    try {
      wire = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
    } catch (err) {
      throw new UpshiftError('E_MALFORMED', `heartbeat frame is not JSON: ${(err as Error).message}`);
    }
    const { from, content } = this.verify(wire as SignedMessage);
    if (from !== subjectNode) {
      const why = `heartbeat frame signed by ${from} was published on the subject of ${subjectNode}`;
      throw new UpshiftError('E_CHANNEL_SUBJECT', why, { details: { from, subject: subjectNode } });
    }
    const parsed = frameSchema.safeParse(content);
    if (!parsed.success) {
      throw new UpshiftError('E_MALFORMED', `heartbeat frame of ${from}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    }
    const frame = parsed.data;
    if (frame.heartbeat.node !== from) {
      throw new UpshiftError('E_CHANNEL_SUBJECT', `heartbeat of ${frame.heartbeat.node} in a frame signed by ${from}`);
    }
    const now = this.deps.clock.now();
    if (Math.abs(now - frame.at) > this.deps.windowMs) {
      const off = `${Math.round((now - frame.at) / 1000)}s off our clock`;
      throw new UpshiftError('E_REPLAY', `heartbeat frame of ${from} is ${off}, outside the ±${this.deps.windowMs / 1000}s replay window`);
    }
    const last = this.newest.get(from);
    if (last !== undefined && frame.at <= last) {
      throw new UpshiftError('E_REPLAY', `heartbeat frame of ${from} is not newer than the last one accepted`, { details: { from, at: frame.at, last } });
    }
    this.newest.set(from, frame.at);
    return { heartbeat: frame.heartbeat, at: Math.min(frame.at, now) };
  }

  /** Signature and certificate first; a payload that is not canonical JSON gets its own code. */
  private verify(wire: SignedMessage): { from: string; content: unknown } {
    try {
      return this.deps.auth.open(wire, HEARTBEAT_FRAME_TYPE);
    } catch (err) {
      // message-auth.ts raises E_MALFORMED with the JSON parser's error as its cause only for a non-canonical payload
      if (isUpshiftError(err, 'E_MALFORMED') && (err as Error).cause !== undefined) {
        throw new UpshiftError('E_NOT_CANONICAL', (err as Error).message.replace('gossip payload', 'heartbeat frame'));
      }
      throw toUpshiftError(err, 'E_MALFORMED');
    }
  }
}
