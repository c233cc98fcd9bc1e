// `upshift node bad|unmark`: the versions this node marked bad after a failed apply (SPEC:
// never retried automatically), and clearing a mark once the cause is fixed, with a reason
// for the audit trail. The daemon retries the held manifest at its next start, or when a
// newer manifest arrives.
import type { Command } from 'commander';
import { UpshiftError } from '../../core/errors.js';
import { NodeTables } from '../../adapters/sqlite/node-tables.js';
import { shortVersion } from '../render.js';
import { action, printJson, say, type Session } from '../shared.js';

export function registerNode(program: Command, session: Session): void {
  const node = program.command('node').description("this node's own apply state: versions marked bad");

  node.command('bad').description('versions this node marked bad after a failed apply').option('--json', 'print JSON')
    .action(action(session, async (opts: { json?: boolean }) => {
      const bad = new NodeTables(session.store().db).badVersions().map((b) => ({ ...b, at: new Date(b.at).toISOString() }));
      if (opts.json) return void printJson({ ok: true, bad });
      if (bad.length === 0) return void say('no version is marked bad on this node');
      for (const b of bad) say(`${b.track}  ${shortVersion(b.version)} (${b.commit.slice(0, 12)})  since ${b.at}  ${b.reason}`);
    }));

  node.command('unmark').description('clear a bad mark (version or commit id) so the version may be applied again')
    .argument('<version>', 'the version name or full commit id')
    .option('--track <track>', 'the track (default: the only one this node follows)')
    .requiredOption('--reason <text>', 'why it is safe again, for the audit trail')
    .option('--json', 'print JSON')
    .action(action(session, async (version: string, opts: { track?: string; reason: string; json?: boolean }) => {
      const { config } = session.config();
      const track = opts.track ?? (config.node.tracks.length === 1 ? config.node.tracks[0] : undefined);
      if (!track) throw new UpshiftError('E_USAGE', `this node follows ${config.node.tracks.join(', ')}: say which with --track`);
      const reason = opts.reason.trim();
      if (!reason || reason.length > 500) throw new UpshiftError('E_USAGE', '--reason must be 1 to 500 characters');
      const store = session.store();
      const cleared = store.tx(() => {
        const gone = new NodeTables(store.db).clearBad(track, version);
        if (gone.length > 0) store.appendEvent({ at: Date.now(), runId: null, stage: null, kind: 'apply.unmarked', actor: 'cli', data: { track, version, reason, cleared: gone.map((b) => b.commit) } });
        return gone;
      });
      if (cleared.length === 0) throw new UpshiftError('E_USAGE', `${version} is not marked bad on track ${track}; see \`upshift node bad\``);
      if (opts.json) return void printJson({ ok: true, track, cleared });
      say(`cleared ${cleared.length} mark(s) of ${version} on ${track}: a manifest for it is applied again when one arrives (at the daemon's next start if it is still the newest held)`);
    }));
}
