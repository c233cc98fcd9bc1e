// `upshift daemon`: the long-running service on every node. It serves /healthz, /readyz,
// /v1/status, /metrics and /v1/gossip, runs the node agent (gossip, apply engine), and on
// the authority also polls the source and drives the pipeline, resuming unfinished runs.
// SIGTERM stops it within systemd's stop timeout, leaving every run and apply resumable.
import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { systemClock } from '../../adapters/clock.js';
import { Authority } from '../../runtime/authority.js';
import { pipelineDeps } from '../../runtime/deps.js';
import { gossipFleet } from '../../runtime/gossip-fleet.js';
import { createNodeRuntime } from '../../runtime/node-runtime.js';
import { PipelineService } from '../../runtime/pipeline-service.js';
import { PeerUrlPolicy } from '../../core/peer-url.js';
import { perAddressLimit } from '../../http/body-limits.js';
import { buildServer, listenOptions } from '../../http/server.js';
import { handleJoin } from '../../node/identity.js';
import { action, type Session } from '../shared.js';

const JOINS_PER_ADDRESS_PER_SEC = 5;

/** Below systemd's TimeoutStopSec=30s, so we finish before SIGKILL. */
const STOP_BUDGET_MS = 20_000;

export function registerDaemon(program: Command, session: Session): void {
  program.command('daemon').description('run the node service: gossip and apply on every node, the pipeline on the authority')
    .action(action(session, async () => {
      const { config } = session.config();
      const log = session.log(config.log.level);
      const store = session.store();
      const node = await createNodeRuntime(config, store, log, systemClock);
      // the pipeline reaches the fleet through this node's own gossip agent
      const agent = node.agent;
      // the push right after a publish is a head start; the interval timer pushes anyway
      const pushNow = () => void agent?.tick().catch((err: unknown) => log.warn({ module: 'gossip', err: (err as Error).message }, 'push after publish failed; the next round carries it'));
      const fleet = agent ? gossipFleet(config, store, systemClock, agent.source, pushNow) : undefined;
      const service = config.authority ? new PipelineService(pipelineDeps(config, store, log, fleet ? { fleet } : {})) : null;
      if (service) await service.deps.loadSigners();
      const readiness: Record<string, () => Promise<void> | void> = {
        gossip: () => {
          if (node.problem) throw new Error(node.problem);
        },
      };
      const plugins: Array<(app: FastifyInstance) => void> = [...node.plugins];
      if (service) {
        readiness.signing_keys = async () => void (await service.deps.loadSigners());
        const peerPolicy = new PeerUrlPolicy(config.gossip.allow);
        const issue = { store, keyset: service.deps.keyset, fleet: config.fleet, now: () => systemClock.now(), peerPolicy };
        // a join request is under a kilobyte and costs a signature check: small cap, few per address
        const limits = { bodyLimit: 64 * 1024, onRequest: perAddressLimit(JOINS_PER_ADDRESS_PER_SEC) };
        plugins.push((app) => app.post('/v1/join', limits, async (req, reply) => {
          const r = await handleJoin(req.body, { ...issue, signers: await service.deps.loadSigners() });
          return reply.status(r.status).send(r.body);
        }));
      }
      const server = buildServer({ config, store, log, readiness, plugins, peers: () => node.agent?.node.members().length ?? 0 });
      const address = await server.listen(listenOptions(config.gossip.listen));
      await node.start();
      const authority = service ? new Authority(service) : null;
      authority?.start();
      log.info({ node: config.node.id, address, authority: Boolean(authority), gossip: node.problem ?? 'on' }, config.authority ? 'authority daemon started' : 'node daemon started');
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          log.info({ signal: sig }, 'stopping');
          const budget = setTimeout(() => {
            log.error('stop budget exceeded; exiting with runs and applies persisted at their last step');
            resolve();
          }, STOP_BUDGET_MS);
          void Promise.allSettled([authority?.stop(), node.stop(), server.close()]).then(() => {
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
