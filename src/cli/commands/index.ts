// Commands are loaded only when asked for: `upshift status` never loads the pipeline,
// fastify or the apply engine, and `--version` loads no command at all. Help and unknown
// commands load every one, so help lists them all and commander's errors stay exact.
import type { Command } from 'commander';
import type { Session } from '../shared.js';

type Register = (program: Command, session: Session) => void;

const COMMANDS: Record<string, () => Promise<Register>> = {
  init: async () => (await import('./init.js')).registerInit,
  status: async () => (await import('./status.js')).registerStatus,
  pipeline: async () => (await import('./pipeline.js')).registerPipeline,
  manifest: async () => (await import('./manifest.js')).registerManifest,
  keys: async () => (await import('./keys.js')).registerKeys,
  daemon: async () => (await import('./daemon.js')).registerDaemon,
  demo: async () => (await import('./demo.js')).registerDemo,
  join: async () => (await import('./join.js')).registerJoin,
  fleet: async () => {
    const [{ registerFleetToken }, { registerFleetView }] = await Promise.all([import('./fleet-token.js'), import('./fleet.js')]);
    return (program, session) => registerFleetView(registerFleetToken(program, session), session);
  },
  node: async () => (await import('./node.js')).registerNode,
  ota: async () => (await import('./ota.js')).registerOta,
  tools: async () => (await import('./tools.js')).registerTools,
  // the same registration as `tools`: `tool` and `mcp` live beside it
  tool: async () => (await import('./tools.js')).registerTools,
  mcp: async () => (await import('./tools.js')).registerTools,
  bench: async () => (await import('./bench.js')).registerBench,
  deployment: async () => (await import('./deployment.js')).registerDeployment,
  authority: async () => (await import('./authority.js')).registerAuthority,
};

/** The command an argv names (global options and their values skipped), or null. */
export function commandName(argv: readonly string[]): string | null {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-c' || arg === '--config') {
      i++;
      continue;
    }
    if (!arg.startsWith('-')) return arg;
  }
  return null;
}

/** The commands an argv needs registered: the one it names, none for `--version`, else all. */
export function commandsFor(argv: readonly string[]): string[] {
  const name = commandName(argv);
  return name !== null && name in COMMANDS ? [name]
    : name === null && argv.some((a) => a === '-V' || a === '--version') ? []
      : Object.keys(COMMANDS);
}

export async function registerCommands(program: Command, session: Session, argv: readonly string[]): Promise<void> {
  const wanted = commandsFor(argv);
  const registers = await Promise.all(wanted.map((n) => (COMMANDS[n] as () => Promise<Register>)()));
  // one module may register several commands (tools, tool, mcp): each register runs once
  for (const register of new Set(registers)) register(program, session);
}
