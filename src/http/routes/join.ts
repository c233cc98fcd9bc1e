// POST /v1/join on the authority: a node redeems a one-time token for a certificate. The
// signing keys are loaded per request, so a key problem answers with its code.
import type { FastifyInstance } from 'fastify';

export interface JoinAnswer {
  status: number;
  body: unknown;
}

export function joinRoute(join: (body: unknown) => Promise<JoinAnswer>) {
  return (app: FastifyInstance): void => {
    app.post('/v1/join', async (req, reply) => {
      const r = await join(req.body);
      return reply.status(r.status).send(r.body);
    });
  };
}
