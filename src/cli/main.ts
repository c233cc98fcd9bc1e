#!/usr/bin/env node
// upshift's command line. Commands are thin: they parse, call runtime/ and print.
import { Command, CommanderError } from 'commander';
import { commandName, commandsFor, registerCommands } from './commands/index.js';
import { upshiftVersion } from './version.js';

export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('upshift')
    .description('autonomous upgrade orchestrator for Linux fleets');
  // `deployment deploy|rollback --version` are the command's own (a release, a deployment
  // version); commander would take them for the program's --version anywhere on the line
  if (commandName(argv) !== 'deployment') program.version(upshiftVersion());
  program
    .option('-c, --config <path>', 'config file (default: $UPSHIFT_CONFIG or ./upshift.yaml)')
    .showHelpAfterError()
    .exitOverride();
  // `--version` alone loads no command and none of what commands share (config, store, logger)
  if (commandsFor(argv).length > 0) {
    const { Session } = await import('./shared.js');
    const session = new Session(program);
    const apart = commandName(argv) === 'daemon';
    program.hook('preAction', () => session.prepare({ apart }));
    await registerCommands(program, session, argv);
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // before the daemon's modules load: V8 compiles most of what it ever optimizes while they do
  if (commandName(argv.slice(2)) === 'daemon') (await import('./daemon-v8.js')).startDaemonV8();
  const program = await buildProgram(argv.slice(2));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; everything else commander refuses is a usage error
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    throw err;
  }
}

await main(process.argv);
