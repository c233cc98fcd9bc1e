// `upshift tools`, `upshift tool <name> --args JSON` and `upshift mcp`: the agent tools from
// a shell and over MCP (stdio). Every call goes through tools/ callTool.
import type { Command } from 'commander';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CODES, UpshiftError } from '../../core/errors.js';
import { createMcpServer } from '../../mcp/server.js';
import { callTool, functionSchemas, TOOLS } from '../../tools/index.js';
import { action, printJson, say, type Session } from '../shared.js';
import { sessionToolEnv } from '../tool-env.js';
import { upshiftVersion } from '../version.js';

export function registerTools(program: Command, session: Session): void {
  program.command('tools').description('the ten agent tools; --json prints their schemas in the function-calling format')
    .option('--json', 'print JSON')
    .action(action(session, async (opts: { json?: boolean }) => {
      if (opts.json) return printJson(functionSchemas());
      for (const t of TOOLS) {
        const a = t.annotations;
        const hints = [a.readOnlyHint ? 'read-only' : 'mutating', a.destructiveHint && 'destructive', a.idempotentHint && 'idempotent'];
        say(`${t.name.padEnd(26)} ${hints.filter(Boolean).join(', ')}\n  ${t.description}`);
      }
    }));

  program.command('tool').description('call one agent tool: prints { ok, reason, evidence } as JSON')
    .argument('<name>', 'tool name (see `upshift tools`)')
    .option('--args <json>', 'the arguments, a JSON object', '{}')
    .option('--json', 'print JSON (always on)')
    .action(action(session, async (name: string, opts: { args: string }) => {
      let args: unknown;
      try {
        args = JSON.parse(opts.args);
      } catch (err) {
        throw new UpshiftError('E_USAGE', `--args is not JSON: ${(err as Error).message}`);
      }
      // one-shot: never drives a run in the background (the daemon does) and never waits out a soak
      const answer = await callTool(sessionToolEnv(session, { door: 'cli', drive: false }), name, args);
      printJson(answer);
      return answer.ok ? 0 : CODES[answer.error.code].exit;
    }));

  program.command('mcp').description('serve the agent tools over MCP on stdin/stdout')
    .action(action(session, async () => {
      const stop = new AbortController();
      const env = sessionToolEnv(session, { door: 'mcp', drive: true, signal: stop.signal });
      const server = createMcpServer(env, upshiftVersion());
      const closed = new Promise<void>((resolve) => {
        server.onclose = () => resolve();
        process.stdin.once('end', () => resolve());
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await server.connect(new StdioServerTransport());
      await closed;
      // background drives stop where they are (persisted, resumable) before the store closes
      stop.abort();
      await drivesReleased(env.ctx.store, 10_000);
      await server.close().catch(() => undefined);
    }));
}

/** Until no run is leased by this process (its background drives ended), at most `ms`. */
async function drivesReleased(store: import('../../core/store-ports.js').RunStore, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const mine = [];
    for (const r of await store.unfinishedRuns()) if ((await store.leaseHolder(r.id))?.pid === process.pid) mine.push(r.id);
    if (mine.length === 0 || Date.now() > until) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
