// /v1/join on the authority. POST: a node redeems a one-time token for a certificate (the
// signing keys are loaded per request, so a key problem answers with its code). GET: what a
// fresh node needs to write its config (fleet, trust section, tracks): public data, which
// `join --trust` checks against the fingerprint `fleet token` printed before spending a token.
import type { FastifyInstance } from 'fastify';
import { perAddressLimit } from '../body-limits.js';

/** A join request is under a kilobyte and costs a signature check: a small cap, few per address. */
const JOIN_BODY_BYTES = 64 * 1024;
const JOINS_PER_ADDRESS_PER_SEC = 5;

export interface JoinAnswer {
  status: number;
  body: unknown;
}

export function joinRoute(join: (body: unknown) => Promise<JoinAnswer>, info?: () => unknown) {
  return (app: FastifyInstance): void => {
    const limits = { bodyLimit: JOIN_BODY_BYTES, onRequest: perAddressLimit(JOINS_PER_ADDRESS_PER_SEC) };
    app.post('/v1/join', limits, async (req, reply) => {
      const r = await join(req.body);
      return reply.status(r.status).send(r.body);
    });
    if (info) {
      app.get('/v1/join', { onRequest: perAddressLimit(JOINS_PER_ADDRESS_PER_SEC) }, async (_req, reply) => reply.send(info()));
    }
  };
}
