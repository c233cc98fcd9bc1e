// POST /v1/gossip: the gossip node's front door. The body is capped by the server's
// bodyLimit (gossip.max_body_bytes, 413 E_BODY_TOO_LARGE) before it is parsed; everything
// else (certificate, signature, shape, replay window, rate limit) is the node's to refuse.
import type { FastifyInstance } from 'fastify';
import { toUpshiftError, type ErrorCode } from '../core/errors.js';
import type { SignedMessage } from '../gossip/ports.js';

export interface GossipReceiver {
  receive(wire: SignedMessage): Promise<SignedMessage>;
}

/**
 * What MessageAuth.verify throws when a sender is not who it claims to be (gossip/ports.ts).
 * All are answered 403 alike: a forged signature (422 elsewhere, as E_SIG_INVALID is for a
 * bad document) must not look different here from an unknown or revoked certificate.
 */
const AUTH_FAILURES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'E_SIG_INVALID',
  'E_NOT_CERTIFIED',
  'E_REVOKED',
]);

export function gossipRoutes(receiver: GossipReceiver): (app: FastifyInstance) => void {
  return (app) => {
    app.post('/v1/gossip', async (req, reply) => {
      try {
        return reply.status(200).send(await receiver.receive(req.body as SignedMessage));
      } catch (err) {
        const e = toUpshiftError(err, 'E_MALFORMED');
        return reply.status(AUTH_FAILURES.has(e.code) ? 403 : e.status).send({ ok: false, error: e.toJSON() });
      }
    });
  };
}
