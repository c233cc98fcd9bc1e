// Every `upshift ...` command the README shows names a real command and real options.
// (The README once showed `keys rotate --version 2`; the root --version swallowed it.)
import t from 'tap';
import { readFileSync } from 'node:fs';
import { Command, type Option } from 'commander';
import { registerCommands } from '../../../src/cli/commands/index.js';
import { Session } from '../../../src/cli/shared.js';
import { readmeCommands, type ReadmeCommand } from './readme-commands.js';
import { repoPath } from '../../helpers/paths.js';

const readme = readFileSync(repoPath('README.md'), 'utf8');
// the program main.ts builds (importing main.ts would run the CLI)
const program = new Command('upshift').version('0').option('-c, --config <path>');
await registerCommands(program, new Session(program), []);

/** A command's options and its ancestors' (the root's --version only at the root: it swallows the line). */
function optionsOf(cmd: Command, own = true): Option[] {
  const mine = (cmd.options as readonly Option[]).filter((o) => own || o.long !== '--version');
  return cmd.parent ? [...mine, ...optionsOf(cmd.parent, false)] : [...mine];
}

function findOption(cmd: Command, flag: string): Option | undefined {
  return optionsOf(cmd).find((o) => o.long === flag || o.short === flag || (o.negate && o.long === flag));
}

/** Why a README command would not run as written, or null. */
export function problem(example: ReadmeCommand): string | null {
  let cmd: Command = program;
  const args = example.args;
  let i = 0;
  // global options first, then the command path
  for (; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg.startsWith('-')) {
      const opt = findOption(cmd, arg.split('=')[0] as string);
      if (!opt) return `unknown option ${arg} for '${cmd.name()}'`;
      if ((opt.required || opt.optional) && !arg.includes('=')) i++;
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!sub) {
      if (cmd.commands.length > 0 && cmd === program) return `unknown command '${arg}'`;
      if (cmd.commands.length > 0 && !cmd.registeredArguments.length) return `unknown command '${cmd.name()} ${arg}'`;
      break;
    }
    cmd = sub;
  }
  for (; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith('-') || arg === '-') continue;
    const opt = findOption(cmd, arg.split('=')[0] as string);
    if (!opt) return `unknown option ${arg} for '${cmd.name()}'`;
    if ((opt.required || opt.optional) && !arg.includes('=')) i++;
  }
  if (cmd === program && !args.some((a) => a === '--help' || a === '--version')) return 'no command';
  return null;
}

const examples = readmeCommands(readme);
t.ok(examples.length >= 15, `the README shows commands (${examples.length} found)`);
for (const example of examples) {
  t.equal(problem(example), null, `README line ${example.line}: upshift ${example.args.join(' ')}`);
}

t.test('the checker itself catches what it is for', async (t) => {
  const bad = readmeCommands('```sh\nupshift keys rotate --new n.key --version 2\nupshift pipelin run\n```\n');
  t.match(problem(bad[0] as ReadmeCommand), /unknown option --version/);
  t.match(problem(bad[1] as ReadmeCommand), /unknown command 'pipelin'/);
});
