// Shared by the agent-tool tests: a real MCP client over stdio spawning the built CLI, row
// counts of every table of a state database, and calls that return the tool's JSON answer.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CLI_PATH } from '../helpers/cli.js';

export interface Answer {
  ok: boolean;
  reason: string;
  evidence: any;
  error?: { code: string; message: string };
}

/** `upshift --config <path> mcp` as a child process, with an SDK client connected over its stdio. */
export async function mcpClient(t: Tap.Test, configPath: string): Promise<{ client: Client; stderr: () => string }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('UPSHIFT_')) env[k] = v;
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI_PATH, '--config', configPath, 'mcp'], env, stderr: 'pipe' });
  let err = '';
  transport.stderr?.on('data', (c: Buffer) => { err += c.toString('utf8'); });
  const client = new Client({ name: 'upshift-test', version: '1.0.0' });
  await client.connect(transport);
  t.teardown(() => client.close());
  return { client, stderr: () => err };
}

/** Call a tool over MCP; the answer is the tool's JSON, with isError matching `ok: false`. */
export async function mcpCall(client: Client, name: string, args: Record<string, unknown> = {}): Promise<Answer> {
  const r = await client.callTool({ name, arguments: args }, undefined, { timeout: 300_000 });
  const text = (r.content as Array<{ type: string; text: string }>)[0]?.text ?? '';
  const answer = JSON.parse(text) as Answer;
  if (Boolean(r.isError) === answer.ok) throw new Error(`isError ${String(r.isError)} disagrees with ok ${answer.ok}: ${text}`);
  return answer;
}

/** Rows in every table of the state database (read-only connection). */
export function rowCounts(stateDir: string): Record<string, number> {
  const db = new Database(join(stateDir, 'upshift.db'), { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
    return Object.fromEntries(tables.map((n) => [n, db.prepare(`SELECT COUNT(*) FROM "${n}"`).pluck().get() as number]));
  } finally {
    db.close();
  }
}

/** Counts with the audit trail taken out: what a refused call must leave exactly as it was. */
export function stateCounts(stateDir: string): Record<string, number> {
  const { events: _events, ...rest } = rowCounts(stateDir);
  return rest;
}

/** Poll `fn` until it returns a truthy value or `ms` pass (then the last value). */
export async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 120_000, every = 500): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, every));
  }
}
