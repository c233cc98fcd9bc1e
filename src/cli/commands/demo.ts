// `upshift demo`: a local, self-cleaning walk through the pipeline.
import type { Command } from 'commander';
import { action, type Session } from '../shared.js';

export function registerDemo(program: Command, session: Session): void {
  program.command('demo').description('an authority and four nodes on loopback take a sample app through three versions, then clean up').option('--keep', 'keep the temp dir')
    .action(action(session, async (opts: { keep?: boolean }) => {
      // the loopback fleet harness ships under scripts/; this command only starts it
      const { runDemo } = await import('../../../scripts/demo/run.js');
      return runDemo({ keep: Boolean(opts.keep), out: process.stdout });
    }));
}
