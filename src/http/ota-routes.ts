// GET /v1/ota/<track>/releases.json and /v1/ota/<track>/<tag>/<asset>: the authority serves
// the directory `ota publish` writes (ota.publish.dir), read-only, with single Range
// requests so a node resumes an interrupted bundle. The bundles are the application's code:
// with http.read_token_file set, these need the read token (nodes send ota.token_file).
import { createReadStream, lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { UpshiftError } from '../core/errors.js';

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$/;

export const OTA_PREFIX = '/v1/ota/';

export function otaRoutes(dir: string, onRequest?: (req: FastifyRequest, reply: FastifyReply) => Promise<void>) {
  return (app: FastifyInstance): void => {
    const opts = onRequest ? { onRequest } : {};
    app.get('/v1/ota/*', opts, async (req, reply) => {
      const rest = (req.params as { '*': string })['*'];
      const parts = rest.split('/');
      // <track>/releases.json or <track>/<tag>/<asset>; nothing else, no dot-dot, no hidden files
      if (parts.length < 2 || parts.length > 3 || !parts.every((p) => SEGMENT.test(p) && !p.includes('..'))) {
        throw new UpshiftError('E_RUN_NOT_FOUND', `no such OTA file: ${rest.slice(0, 200)}`);
      }
      const file = join(dir, ...parts);
      let size: number;
      try {
        const st = lstatSync(file);
        if (!st.isFile()) throw new Error('not a regular file');
        size = st.size;
      } catch {
        throw new UpshiftError('E_RUN_NOT_FOUND', `no such OTA file: ${rest}`);
      }
      reply.header('accept-ranges', 'bytes');
      reply.header('content-type', file.endsWith('.json') ? 'application/json' : 'application/octet-stream');
      reply.header('cache-control', file.endsWith('releases.json') ? 'no-cache' : 'public, max-age=31536000, immutable');
      const range = rangeOf(req.headers.range, size);
      if (range === 'unsatisfiable') {
        return reply.status(416).header('content-range', `bytes */${size}`).send();
      }
      if (range === null) {
        reply.header('content-length', String(size));
        return reply.send(createReadStream(file));
      }
      reply.status(206);
      reply.header('content-range', `bytes ${range.start}-${range.end}/${size}`);
      reply.header('content-length', String(range.end - range.start + 1));
      return reply.send(createReadStream(file, { start: range.start, end: range.end }));
    });
  };
}

/** One `bytes=N-` or `bytes=N-M` range; anything else is served whole (RFC 9110 lets a server ignore Range). */
export function rangeOf(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const m = header === undefined ? null : /^bytes=(\d{1,15})-(\d{0,15})$/.exec(header.trim());
  if (!m) return null;
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
