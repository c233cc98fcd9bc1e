// POST /v1/gossip: the gossip node's front door. A per-address token bucket is taken before
// the body is read (429), the body is capped at gossip.max_request_bytes (413 E_BODY_TOO_LARGE)
// and depth-checked before it is parsed; everything else (certificate, signature, shape,
// replay window, per-node rate limit) is the node's to refuse.
import type { FastifyInstance } from 'fastify';
import { toUpshiftError, type ErrorCode } from '../core/errors.js';
import type { SignedMessage } from '../gossip/ports.js';
import { perAddressLimit } from './body-limits.js';

const DEFAULT_LIMITS: GossipRouteLimits = { max_request_bytes: 64 * 1024, rate_limit_per_address: 100 };

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

export interface GossipRouteLimits {
  max_request_bytes: number;
  rate_limit_per_address: number;
}

/**
 * `limits` default to the config's defaults; the daemon passes its gossip config. `now` is
 * the per-address bucket's clock (a test freezes it so that no token refills mid-test).
 */
export function gossipRoutes(receiver: GossipReceiver, limits: GossipRouteLimits = DEFAULT_LIMITS, now: () => number = Date.now): (app: FastifyInstance) => void {
  return (app) => {
    const onRequest = perAddressLimit(limits.rate_limit_per_address, now);
    app.post('/v1/gossip', { bodyLimit: limits.max_request_bytes, onRequest }, async (req, reply) => {
      try {
        return reply.status(200).send(await receiver.receive(req.body as SignedMessage));
      } catch (err) {
        const e = toUpshiftError(err, 'E_MALFORMED');
        return reply.status(AUTH_FAILURES.has(e.code) ? 403 : e.status).send({ ok: false, error: e.toJSON() });
      }
    });
  };
}
