// POST /v1/tools/<name>: the agent tools over HTTP, behind the bearer token of
// http.tools_token_file (compared in constant time, on digests). Without a token configured
// the daemon serves no tools: every call is refused, before its body is looked at.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CODES, UpshiftError, type ErrorCode } from '../../core/errors.js';
import { perAddressLimit } from '../body-limits.js';

const TOOL_BODY_BYTES = 64 * 1024;
const CALLS_PER_ADDRESS_PER_SEC = 20;
const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

function refuse(reply: FastifyReply, status: number, message: string) {
  const error = new UpshiftError('E_UNAUTHORIZED', message).toJSON();
  return reply.status(status).header('www-authenticate', 'Bearer realm="upshift-tools"').send({ ok: false, reason: message, error, evidence: {} });
}

/** What a tool call answers (tools/index.ts ToolAnswer), as far as the route needs to know. */
export interface RouteAnswer { ok: boolean; error?: { code: ErrorCode } }

/** `call(actor, tool, args)`: runs a tool for one caller; the daemon wires it to tools/index.ts. */
export function toolsRoute(token: string | null, call: (actor: string, name: string, args: unknown) => Promise<RouteAnswer>) {
  const expected = token === null ? null : digest(token);
  return (app: FastifyInstance): void => {
    const guard = async (req: FastifyRequest, reply: FastifyReply) => {
      if (expected === null) return refuse(reply, 403, 'this daemon serves no tools: set http.tools_token_file (a 0600 file holding a token)');
      const header = req.headers.authorization ?? '';
      const given = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
      if (given && timingSafeEqual(digest(given), expected)) return;
      return refuse(reply, 401, given ? 'the bearer token is not the tools token' : 'tools need Authorization: Bearer <the token in http.tools_token_file>');
    };
    const opts = { bodyLimit: TOOL_BODY_BYTES, onRequest: [perAddressLimit(CALLS_PER_ADDRESS_PER_SEC), guard] };
    app.post<{ Params: { name: string } }>('/v1/tools/:name', opts, async (req, reply) => {
      const answer = await call(`http:${req.ip}`, req.params.name, req.body ?? {});
      return reply.status(answer.ok || !answer.error ? 200 : CODES[answer.error.code].status).send(answer);
    });
  };
}
