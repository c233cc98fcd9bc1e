// `upshift daemon`: the long-running service. On the authority it polls the source and
// drives the pipeline; it resumes unfinished runs at start. SIGTERM stops it within
// systemd's stop timeout, leaving every run persisted and resumable.
import type { Command } from 'commander';
import { UpshiftError } from '../../core/errors.js';
import { Authority } from '../../runtime/authority.js';
import { pipelineDeps } from '../../runtime/deps.js';
import { PipelineService } from '../../runtime/pipeline-service.js';
import { action, type Session } from '../shared.js';

export function registerDaemon(program: Command, session: Session): void {
  program.command('daemon').description('run the node service (on the authority: the pipeline and its scheduler)')
    .action(action(session, async () => {
      const { config } = session.config();
      if (!config.authority) {
        throw new UpshiftError('E_NOT_IMPLEMENTED', 'the node agent (gossip, apply) is not implemented yet; only the authority daemon runs');
      }
      const log = session.log(config.log.level);
      const service = new PipelineService(pipelineDeps(config, session.store(), log));
      await service.deps.loadSigners();
      const authority = new Authority(service);
      authority.start();
      log.info({ node: config.node.id, poll: config.authority.poll }, 'authority daemon started');
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          log.info({ signal: sig }, 'stopping');
          void authority.stop().then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      log.info('stopped');
    }));
}
