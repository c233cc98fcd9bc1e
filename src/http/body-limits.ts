// Work the daemon does for a request before it knows who sent it, kept small: a per-address
// token bucket taken before the body is read (so before any parse or signature check), and a
// JSON parser that refuses deep nesting with one linear scan instead of letting JSON.parse
// spend seconds on it. Bodies are also capped per route (bodyLimit) before either runs.
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { toUpshiftError } from '../core/errors.js';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../core/json-depth.js';
import { addressKey } from '../core/peer-url.js';
import { RateLimiter } from '../gossip/rate-limit.js';

/** Replace fastify's JSON parser by the same parser behind a depth check (400 E_MALFORMED). */
export function depthLimitedJson(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (jsonTooDeep(body as string)) {
      done(Object.assign(new Error(`JSON body nested deeper than ${MAX_JSON_DEPTH} levels`), { statusCode: 400 }), undefined);
      return;
    }
    parse(req, body as string, done);
  });
}

/**
 * An onRequest hook: `perSec` requests per second from one remote address (an IPv6 /64
 * counts as one), refused with 429 E_RATE_LIMITED before the body is read. Keyed by the
 * socket's address, never a header a client can set.
 */
export function perAddressLimit(perSec: number, now: () => number = Date.now): onRequestHookHandler {
  const limiter = new RateLimiter(perSec);
  return (req, reply, done) => {
    try {
      limiter.take(addressKey(req.socket.remoteAddress ?? 'unknown'), now());
    } catch (err) {
      const e = toUpshiftError(err);
      void reply.status(e.status).send({ ok: false, error: e.toJSON() });
      return;
    }
    done();
  };
}
