// `upshift daemon`: the long-running service on every node (runtime/daemon.ts builds it).
// SIGTERM stops it within systemd's stop timeout, leaving every run and apply resumable.
import type { Command } from 'commander';
import { setFlagsFromString } from 'node:v8';
import { systemClock } from '../../adapters/clock.js';
import type { UpshiftError } from '../../core/errors.js';
import { createDaemon } from '../../runtime/daemon.js';
import { openAuthorityStore, type AuthorityStore } from '../../runtime/open-store.js';
import { action, type Session } from '../shared.js';
import { settleDaemonV8 } from '../daemon-v8.js';


/**
 * V8 doubles the young generation whenever much of it survives a scavenge, up to 32 MB, and
 * rarely gives it back: one apply (a release fetched and hashed) left an idle daemon 30 MB
 * larger for good. Growth off, the young generation stays at its first 1–2 MB; an idle
 * daemon's scavenges are small either way. A semi-space size set by the operator
 * (NODE_OPTIONS=--max-semi-space-size=N) is left alone.
 */
function keepYoungGenerationSmall(): void {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => /semi[-_]space/.test(a));
  if (!given) setFlagsFromString('--semi-space-growth-factor=1');
}

/** Below systemd's TimeoutStopSec=30s, so we finish before SIGKILL. */
const STOP_BUDGET_MS = 20_000;

export function registerDaemon(program: Command, session: Session): void {
  program.command('daemon').description('run the node service: gossip and apply on every node, the pipeline on the authority')
    .action(action(session, async () => {
      keepYoungGenerationSmall();
      const { config, stateDir } = session.config();
      const v8Flags = settleDaemonV8(Boolean(config.authority));
      const log = session.log(config.log.level);
      if (v8Flags.length > 0) log.info({ v8: v8Flags }, 'V8 flags for a node daemon (README, Benchmarks: footprint)');
      const replicated = config.authority?.store.kind === 'postgres';
      // an authority replica on PostgreSQL opens its store with the session its leadership fences
      let opened: AuthorityStore | null = null;
      const daemon = await createDaemon({
        config, openStore: () => session.store(), log, clock: systemClock,
        // the tools (services, pipeline) load at the first call: most daemons never serve one
        callTool: async (env, name, args) => (await import('../../tools/index.js')).callTool(env, name, args),
        ...(replicated ? {
          openAuthorityStore: async () => (opened = await openAuthorityStore(config, stateDir, { replica: true, applicationName: 'upshift-daemon' })),
          // the leader's executor of queued commands and the follower's tool door, loaded on replicas only
          replicaParts: async () => {
            const [{ commandExecutor }, { followerTool }] = await Promise.all([
              import('../../services/command-queue.js'), import('../../tools/replica-tools.js'),
            ]);
            return { commandExecutor, followerTool };
          },
        } : {}),
      });
      let lost: UpshiftError | null = null;
      await daemon.start();
      await new Promise<void>((resolve) => {
        // leadership lost (E_FENCED): the effects already stopped, failing closed; exit non-zero
        // so systemd restarts this replica as a follower
        void daemon.fatal.then((err) => {
          lost = err;
          log.error({ code: err.code, err: err.message }, err.code === 'E_FENCED'
            ? 'exiting: this replica is no longer the leader' : 'exiting: this replica cannot reach the store');
          // bounded as on SIGTERM: a replica cut off from PostgreSQL can hang on any query
          const budget = setTimeout(resolve, STOP_BUDGET_MS);
          void daemon.stop().finally(() => {
            clearTimeout(budget);
            resolve();
          });
        });
        const stop = (sig: string) => {
          log.info({ signal: sig }, 'stopping');
          const budget = setTimeout(() => {
            log.error('stop budget exceeded; exiting with runs and applies persisted at their last step');
            resolve();
          }, STOP_BUDGET_MS);
          void daemon.stop().then(() => {
            clearTimeout(budget);
            resolve();
          });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      const closing = (opened as AuthorityStore | null)?.store.close();
      if (!lost) await closing;
      else {
        // the pool may hold connections that never answer (cut off): close what closes, then go,
        // even with sockets left open (an unref'd timer does not keep a finished process alive)
        await Promise.race([closing, new Promise((r) => setTimeout(r, 2000).unref())]);
        setTimeout(() => process.exit(), 1000).unref();
      }
      log.info('stopped');
      if (lost) throw lost;
    }, { store: false }));
}
