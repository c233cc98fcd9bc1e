// POST /v1/join on the authority: a node redeems a one-time token for a certificate. The
// signing keys are loaded per request, so a key problem answers with its code.
import type { FastifyInstance } from 'fastify';
import { perAddressLimit } from '../body-limits.js';

/** A join request is under a kilobyte and costs a signature check: a small cap, few per address. */
const JOIN_BODY_BYTES = 64 * 1024;
const JOINS_PER_ADDRESS_PER_SEC = 5;

export interface JoinAnswer {
  status: number;
  body: unknown;
}

export function joinRoute(join: (body: unknown) => Promise<JoinAnswer>) {
  return (app: FastifyInstance): void => {
    const limits = { bodyLimit: JOIN_BODY_BYTES, onRequest: perAddressLimit(JOINS_PER_ADDRESS_PER_SEC) };
    app.post('/v1/join', limits, async (req, reply) => {
      const r = await join(req.body);
      return reply.status(r.status).send(r.body);
    });
  };
}
