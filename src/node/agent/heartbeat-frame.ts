// A heartbeat on the fleet channel (NATS subject upshift.<fleet>.hb.<node>): the node's
// heartbeat and its clock when sent, sealed with its own key as a gossip message is (same
// certificate check, same cached KeyObject verify) but under the heartbeat payload type, so
// neither can pass as the other. The channel only delivers: the signer must be the node the
// subject names, and the shape is parsed strictly after the signature checked out.
import { z } from 'zod';
import { UpshiftError } from '../../core/errors.js';
import { PAYLOAD_TYPES } from '../../core/manifest.js';
import type { SignedMessage } from '../../gossip/ports.js';
import { heartbeatSchema, tooBig, type Heartbeat } from '../../gossip/types.js';
import type { Ed25519MessageAuth } from './message-auth.js';

export const HEARTBEAT_FRAME_TYPE = PAYLOAD_TYPES.heartbeat;

const frameSchema = z.strictObject({ from: z.string(), at: z.int(), heartbeat: heartbeatSchema });

export interface HeartbeatFrame {
  heartbeat: Heartbeat;
  /** The sender's clock when it sent the frame (ms): what the replay check orders by. */
  sentAt: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The bytes a node publishes on its own heartbeat subject. */
export function sealHeartbeatFrame(
  auth: Pick<Ed25519MessageAuth, 'seal'>, heartbeat: Heartbeat, sentAt: number,
): Uint8Array {
  const sealed = auth.seal({ from: heartbeat.node, at: sentAt, heartbeat }, HEARTBEAT_FRAME_TYPE);
  return encoder.encode(JSON.stringify(sealed));
}

/**
 * A frame read from `subjectNode`'s heartbeat subject, verified: E_MALFORMED for bytes that
 * are no frame, the certificate and signature errors of message-auth.ts, E_NOT_CERTIFIED
 * (reason E_WRONG_NODE) when another node signed it, E_HEARTBEAT_TOO_LARGE past a bound.
 */
export function openHeartbeatFrame(
  auth: Pick<Ed25519MessageAuth, 'open'>, data: Uint8Array, subjectNode: string,
): HeartbeatFrame {
  let wire: unknown;
  try {
    wire = JSON.parse(decoder.decode(data));
  } catch (err) {
    const why = `a heartbeat frame is JSON { payload, sig, cert }: ${(err as Error).message}`;
    throw new UpshiftError('E_MALFORMED', why, { cause: err });
  }
  const { from, content } = auth.open(wire as SignedMessage, HEARTBEAT_FRAME_TYPE);
  if (from !== subjectNode) {
    throw new UpshiftError('E_NOT_CERTIFIED', `a heartbeat signed by ${from} arrived on the subject of ${subjectNode}`, {
      details: { reason: 'E_WRONG_NODE', node_id: from, subject_node: subjectNode },
    });
  }
  const parsed = frameSchema.safeParse(content);
  if (!parsed.success) {
    const oversize = parsed.error.issues.find((i) => i.path[0] === 'heartbeat' && tooBig(i));
    const issue = oversize ?? parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
    const code = oversize ? 'E_HEARTBEAT_TOO_LARGE' : 'E_MALFORMED';
    const why = `heartbeat frame from ${from} refused at ${where}: ${issue?.message ?? 'invalid'}`;
    throw new UpshiftError(code, why, { details: { path: where } });
  }
  if (parsed.data.heartbeat.node !== from) {
    throw new UpshiftError('E_MALFORMED', `heartbeat of ${parsed.data.heartbeat.node} sent by ${from}`);
  }
  return { heartbeat: parsed.data.heartbeat, sentAt: parsed.data.at };
}
