// `upshift status`: this node, its tracks and floors, and the pipeline at a glance.
import type { Command } from 'commander';
import { receivedManifest } from '../../node/receive.js';
import { runLine, shortVersion } from '../render.js';
import { action, printJson, say, type Session } from '../shared.js';

export function registerStatus(program: Command, session: Session): void {
  program.command('status').description('this node, its tracks, and the pipeline').option('--json', 'print JSON')
    .action(action(session, async (opts: { json?: boolean }) => {
      const { config, path, stateDir } = session.config();
      const store = session.store();
      const tracks = Object.fromEntries(config.node.tracks.map((track) => {
        const got = receivedManifest(store, track);
        const stable = store.lastStable(track);
        const latest = store.listRuns({ track, limit: 1 })[0] ?? null;
        return [track, {
          floor: store.floors.get(track),
          manifest: got && { seq: got.seq, version: got.version, commit: got.commit },
          last_stable: stable && { run: stable.id, version: stable.version, finished_at: stable.finishedAt },
          latest_run: latest && { run: latest.id, version: latest.version, status: latest.status, stage: latest.stage, reason: latest.reason },
        }];
      }));
      const unfinished = store.unfinishedRuns();
      const lastPoll = store.kv.get('authority.last_poll');
      const status = {
        node: { id: config.node.id, fleet: config.fleet, labels: config.node.labels, authority: Boolean(config.authority) },
        config: path,
        state_dir: stateDir,
        tracks,
        pipeline: config.authority ? { unfinished, last_poll: lastPoll ? new Date(Number(lastPoll)).toISOString() : null } : null,
        fleet: { peers: 0, note: 'gossip and the node agent are not implemented yet: this node knows no peers' },
      };
      if (opts.json) return printJson({ ok: true, ...status });
      say(`node ${config.node.id} in fleet ${config.fleet}${config.authority ? ' (authority)' : ''}`);
      for (const [track, t] of Object.entries(tracks)) {
        say(`  ${track}: floor ${t.floor ?? '-'}, manifest ${t.manifest ? `#${t.manifest.seq} ${shortVersion(t.manifest.version)}` : '-'}, last stable ${t.last_stable ? shortVersion(t.last_stable.version) : '-'}`);
        if (t.latest_run) say(`    latest run ${t.latest_run.run} ${shortVersion(t.latest_run.version)} ${t.latest_run.status} at ${t.latest_run.stage}`);
      }
      if (unfinished.length) say(`unfinished runs:\n${unfinished.map(runLine).join('\n')}`);
    }));
}
