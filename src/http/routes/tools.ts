// POST /v1/tools/<name>: the agent tools over HTTP, behind the bearer token of
// http.tools_token_file (compared in constant time, on digests). Without a token configured
// the daemon serves no tools: every call is refused, before its body is looked at.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CODES, UpshiftError } from '../../core/errors.js';
import type { ToolEnv } from '../../tools/index.js';
import { perAddressLimit } from '../body-limits.js';

const TOOL_BODY_BYTES = 64 * 1024;
const CALLS_PER_ADDRESS_PER_SEC = 20;
const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

function refuse(reply: FastifyReply, status: number, message: string) {
  const error = new UpshiftError('E_UNAUTHORIZED', message).toJSON();
  return reply.status(status).header('www-authenticate', 'Bearer realm="upshift-tools"').send({ ok: false, reason: message, error, evidence: {} });
}

/** `env(actor)`: the tool environment for one caller (the daemon's store, pipeline, clock). */
export function toolsRoute(token: string | null, env: (actor: string) => ToolEnv) {
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
      // the tools (services, pipeline) load at the first call: most daemons never serve one
      const { callTool } = await import('../../tools/index.js');
      const answer = await callTool(env(`http:${req.ip}`), req.params.name, req.body ?? {});
      return reply.status(answer.ok ? 200 : CODES[answer.error.code].status).send(answer);
    });
  };
}
