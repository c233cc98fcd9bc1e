// `upshift status`: this node, its tracks, and the pipeline at a glance.
import type { Command } from 'commander';
import { nodeStatus, runPlace, type AuthorityStoreStatus } from '../../runtime/status.js';
import type { AuthorityInfo } from '../../runtime/authority-info.js';
import { runLine, shortVersion } from '../render.js';
import { action, printJson, say, type Session } from '../shared.js';

export function registerStatus(program: Command, session: Session): void {
  program.command('status').description('this node, its tracks, and the pipeline').option('--json', 'print JSON')
    .action(action(session, async (opts: { json?: boolean }) => {
      const { config, path } = session.config();
      const status = await nodeStatus(config, session.store(), {
        configPath: path,
        ...(config.authority?.store.kind === 'postgres' ? { authorityStore: async () => await (await import('../../runtime/authority-info.js')).readAuthorityInfo(config) ?? {} } : {}),
      });
      if (opts.json) return printJson({ ok: true, ...status });
      say(`node ${config.node.id} in fleet ${config.fleet}${config.authority ? ' (authority)' : ''}`);
      for (const [track, t] of Object.entries(status.tracks)) {
        say(`  ${track}: floor ${t.floor ?? '-'}, manifest ${t.manifest ? `#${t.manifest.seq} ${shortVersion(t.manifest.version)}` : '-'}, last stable ${t.last_stable ? shortVersion(t.last_stable.version) : '-'}`);
        if (t.latest_run) say(`    latest run ${t.latest_run.run} ${shortVersion(t.latest_run.version)} ${runPlace(t.latest_run)}`);
      }
      const p = status.pipeline;
      if (p) say(`source: ${p.source ?? 'not polled yet'}${p.last_poll ? ` (last good poll ${p.last_poll})` : ''}`);
      if (status.authority_store) say(`store: ${storeLine(status.authority_store)}`);
      const f = status.fleet;
      if (f.heard > 0) say(`fleet: ${f.heard} node(s) heard${f.silent ? `, ${f.silent} silent` : ''} (\`upshift fleet health\` says more)`);
      const unfinished = p?.unfinished ?? [];
      if (unfinished.length) say(`unfinished runs:\n${unfinished.map((r) => `${runLine(r)}${r.waiting ? `\n    waiting for ${r.waiting.what}` : ''}`).join('\n')}`);
    }));
}

/** `sqlite`, or `postgres, leader auth-1 (epoch 3), 2 synchronous standby(s)`. */
function storeLine(st: AuthorityStoreStatus): string {
  if (st.kind === 'sqlite') return 'sqlite';
  if (typeof st.error === 'string') return `postgres (cannot be asked: ${st.error})`;
  const info = st as unknown as Partial<AuthorityInfo>;
  const leader = info.leader ? `leader ${info.leader.replica} (epoch ${info.leader.epoch})` : 'no leader yet';
  const sync = info.replication?.standbys.filter((s) => s.syncState === 'sync' || s.syncState === 'quorum').length ?? 0;
  return `postgres, ${leader}, ${sync ? `${sync} synchronous standby(s)` : 'NO synchronous standby (a failover can lose a signed seq)'}`;
}
