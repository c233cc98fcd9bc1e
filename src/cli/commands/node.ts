// `upshift node bad|unmark`: the versions this node marked bad after a failed apply (SPEC:
// never retried automatically), and clearing a mark once the cause is fixed, with a reason
// for the audit trail. The daemon retries the held manifest at its next start, or when a
// newer manifest arrives.
import type { Command } from 'commander';
import { badMarks, unmarkBad } from '../../services/node.js';
import { shortVersion } from '../render.js';
import { action, printJson, say, type Session } from '../shared.js';

export function registerNode(program: Command, session: Session): void {
  const node = program.command('node').description("this node's own apply state: versions marked bad");

  node.command('bad').description('versions this node marked bad after a failed apply').option('--json', 'print JSON')
    .action(action(session, async (opts: { json?: boolean }) => {
      const r = await badMarks(session.context());
      const bad = r.evidence.bad.map((b) => ({ ...b, at: new Date(b.at).toISOString() }));
      if (opts.json) return void printJson({ ok: true, bad });
      if (bad.length === 0) return void say(r.reason);
      for (const b of bad) say(`${b.track}  ${shortVersion(b.version)} (${b.commit.slice(0, 12)})  since ${b.at}  ${b.reason}`);
    }));

  node.command('unmark').description('clear a bad mark (version or commit id) so the version may be applied again')
    .argument('<version>', 'the version name or full commit id')
    .option('--track <track>', 'the track (default: the only one this node follows)')
    .requiredOption('--reason <text>', 'why it is safe again, for the audit trail')
    .option('--json', 'print JSON')
    .action(action(session, async (version: string, opts: { track?: string; reason: string; json?: boolean }) => {
      const r = await unmarkBad(session.context(), { version, reason: opts.reason, ...(opts.track ? { track: opts.track } : {}) });
      if (opts.json) return void printJson({ ok: true, ...r.evidence });
      say(r.reason);
    }));
}
