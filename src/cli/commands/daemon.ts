// `upshift daemon`: the long-running service. It serves /healthz, /readyz, /v1/status and
// /metrics; on the authority it also polls the source and drives the pipeline, resuming
// unfinished runs at start. SIGTERM stops it within systemd's stop timeout, leaving
// every run persisted and resumable.
import type { Command } from 'commander';
import { UpshiftError } from '../../core/errors.js';
import { Authority } from '../../runtime/authority.js';
import { pipelineDeps } from '../../runtime/deps.js';
import { PipelineService } from '../../runtime/pipeline-service.js';
import { buildServer, listenOptions } from '../../http/server.js';
import { handleJoin } from '../../node/identity.js';
import { action, type Session } from '../shared.js';

/** Below systemd's TimeoutStopSec=30s, so we finish before SIGKILL. */
const STOP_BUDGET_MS = 20_000;

export function registerDaemon(program: Command, session: Session): void {
  program.command('daemon').description('run the node service (on the authority: the pipeline and its scheduler)')
    .action(action(session, async () => {
      const { config } = session.config();
      if (!config.authority) {
        throw new UpshiftError('E_NOT_IMPLEMENTED', 'the node agent (gossip, apply) is not implemented yet; only the authority daemon runs');
      }
      const log = session.log(config.log.level);
      const store = session.store();
      const service = new PipelineService(pipelineDeps(config, store, log));
      await service.deps.loadSigners();
      const issue = { store, keyset: service.deps.keyset, fleet: config.fleet, now: () => service.deps.clock.now() };
      const server = buildServer({
        config, store, log,
        readiness: { signing_keys: async () => void (await service.deps.loadSigners()) },
        plugins: [
          (app) => app.post('/v1/join', async (req, reply) => {
            const r = await handleJoin(req.body, { ...issue, signers: await service.deps.loadSigners() });
            return reply.status(r.status).send(r.body);
          }),
        ],
      });
      const address = await server.listen(listenOptions(config.gossip.listen));
      const authority = new Authority(service);
      authority.start();
      log.info({ node: config.node.id, poll: config.authority.poll, address }, 'authority daemon started');
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          log.info({ signal: sig }, 'stopping');
          const budget = setTimeout(() => {
            log.error('stop budget exceeded; exiting with runs persisted at their last transition');
            resolve();
          }, STOP_BUDGET_MS);
          void Promise.allSettled([authority.stop(), server.close()]).then(() => {
            clearTimeout(budget);
            resolve();
          });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      log.info('stopped');
    }));
}
