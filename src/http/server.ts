// The daemon's HTTP front door (fastify). `buildServer()` is separate from `listen()` so
// tests use `inject()` or port 0. Bodies are capped before parsing (bodyLimit, smaller per
// route where a route expects less) and JSON nested too deep is refused before JSON.parse.
// HTTPS and the token on the read endpoints come from `exposure` (config `http`).
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { createRequire } from 'node:module';
import type { Config } from '../core/config.js';
import { toUpshiftError } from '../core/errors.js';
import type { Logger } from '../adapters/logger.js';
import type { StateStore } from '../core/ports.js';
import { requireReadToken, type HttpExposure } from './exposure.js';
import { depthLimitedJson } from './body-limits.js';
import type { Registry } from 'prom-client';
import type { ChannelView } from '../adapters/nats/channel.js';
import type { GossipView, SourceView } from './metrics.js';

export interface ServerDeps {
  config: Config;
  store: StateStore;
  log: Logger;
  /** Extra readiness checks (e.g. signing keys loadable on the authority); each throws when not ready. */
  readiness?: Record<string, () => Promise<void> | void>;
  /** Routes mounted by other parts of the daemon (gossip, join). */
  plugins?: Array<(app: FastifyInstance) => void>;
  /** What GET /v1/status answers (runtime/status.ts nodeStatus, given by the composition root). */
  status: () => Promise<Record<string, unknown>>;
  /** The seq of the manifest this node holds for gossip on a track (for /metrics). */
  heldSeq: (track: string) => Promise<number | null>;
  /** The authority's last poll of its source (for /metrics); absent on other nodes. */
  source?: () => Promise<SourceView>;
  /** This node's gossip traffic (for /metrics); absent without a gossip agent. */
  gossip?: () => GossipView;
  /** The NATS fleet channel's traffic (for /metrics); absent with `channel: gossip`. */
  channel?: () => ChannelView;
  /** For ages in /metrics; default the system clock. */
  now?: () => number;
  /** HTTPS and the read token (loadHttpExposure); default plain HTTP with open reads. */
  exposure?: HttpExposure;
}

// resolved from fastify itself: its dependencies, not ours
const fastifyRequire = createRequire(createRequire(import.meta.url).resolve('fastify'));

/**
 * Fastify's schema compilers (ajv, fast-json-stringify: ~110 modules, ~3 MB of an idle
 * daemon) loaded only if a route ever declares a schema; none does today (bodies are checked
 * with zod in the handlers).
 */
type Selector = () => (...args: unknown[]) => never;
const lazyCompiler = (pkg: string) => (...args: unknown[]) => (fastifyRequire(pkg) as Selector)()(...args);
const lazyCompilers: FastifyServerOptions['schemaController'] = {
  compilersFactory: {
    buildValidator: lazyCompiler('@fastify/ajv-compiler'),
    buildSerializer: lazyCompiler('@fastify/fast-json-stringify-compiler'),
  },
};

export function buildServer(deps: ServerDeps): FastifyInstance {
  // our own pino logs what matters; fastify's per-request logging would only add noise
  const base = { logger: false, bodyLimit: deps.config.gossip.max_body_bytes, schemaController: lazyCompilers };
  const tls = deps.exposure?.tls;
  // routes and hooks do not depend on the server type, so the HTTPS instance is typed as the plain one
  const app = (tls ? Fastify({ ...base, https: { cert: tls.cert, key: tls.key } }) : Fastify(base)) as unknown as FastifyInstance;
  depthLimitedJson(app);
  const readToken = deps.exposure?.readToken;
  const reads = readToken ? { onRequest: requireReadToken(readToken) } : {};
  // prom-client (and its default collectors' timers) is loaded at the first scrape: many nodes
  // are never scraped, and an idle daemon should not pay for it
  let metrics: Promise<Registry> | null = null;
  const registry = () => (metrics ??= import('./metrics.js')
    .then((m) => m.createMetrics(deps.config, deps.store, {
      heldSeq: deps.heldSeq,
      ...(deps.source ? { source: deps.source } : {}),
      ...(deps.gossip ? { gossip: deps.gossip } : {}),
      ...(deps.channel ? { channel: deps.channel } : {}),
      ...(deps.now ? { now: deps.now } : {}),
    }))
    .catch((err: unknown) => {
      metrics = null; // the next scrape tries again
      throw err;
    }));

  app.setErrorHandler((raw, _req, reply) => {
    const err = raw as Error & { code?: string; statusCode?: number };
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.status(413).send({ ok: false, error: { code: 'E_BODY_TOO_LARGE', message: err.message } });
    if (err.code?.startsWith('FST_ERR_CTP') || err.statusCode === 400) {
      return reply.status(400).send({ ok: false, error: { code: 'E_MALFORMED', message: err.message } });
    }
    const e = toUpshiftError(err);
    if (e.status >= 500) deps.log.error({ code: e.code, err: e.message }, 'request failed');
    return reply.status(e.status).send({ ok: false, error: e.toJSON() });
  });

  app.get('/healthz', async () => ({ ok: true }));

  app.get('/readyz', async (_req, reply) => {
    const checks: Record<string, string> = {};
    try {
      await deps.store.ping();
      checks.state = 'ok';
    } catch (err) {
      checks.state = (err as Error).message;
    }
    for (const [name, check] of Object.entries(deps.readiness ?? {})) {
      try {
        await check();
        checks[name] = 'ok';
      } catch (err) {
        checks[name] = (err as Error).message;
      }
    }
    const ready = Object.values(checks).every((v) => v === 'ok');
    return reply.status(ready ? 200 : 503).send({ ok: ready, checks });
  });

  app.get('/v1/status', reads, async () => ({ ok: true, ...(await deps.status()) }));

  app.get('/metrics', reads, async (_req, reply) => {
    const r = await registry();
    reply.header('content-type', r.contentType);
    return r.metrics();
  });

  for (const plugin of deps.plugins ?? []) plugin(app);
  return app;
}

/** `host:port` from config → fastify listen options. */
export function listenOptions(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i), port: Number(listen.slice(i + 1)) };
}
