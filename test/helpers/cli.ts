// Run the built CLI as a real child process, the way an operator or a script would.
import { existsSync } from 'node:fs';
import { CLI_PATH } from './paths.js';
import { spawnGroup, stopGroup } from './procs.js';
import { WAIT } from './timeouts.js';

export { CLI_PATH } from './paths.js';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON; throws with both streams in the message when it is not. */
  json<T = any>(): T;
}

export interface CliOptions {
  cwd?: string;
  /** Added to the environment; a value of undefined removes the variable. */
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed. */
  input?: string | Uint8Array;
  /** Kill the process (its whole group) after this many milliseconds (default WAIT.cli). */
  timeoutMs?: number;
}

/** Both output streams, as an assertion's extra so that a failure shows them: t.equal(r.code, 0, 'ok', diag(r)). */
export function diag(r: Pick<CliResult, 'code' | 'stdout' | 'stderr'>): { code: number | null; stdout: string; stderr: string } {
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Run `node dist/src/cli/main.js ...args` and collect its output. UPSHIFT_* variables of
 * the calling shell are dropped so a developer's own config cannot leak into a test.
 */
export function runCli(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  if (!existsSync(CLI_PATH)) {
    return Promise.reject(new Error(`${CLI_PATH} is missing: build first with \`npm run build\``));
  }
  const env: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) if (k.startsWith('UPSHIFT_')) env[k] = undefined;
  Object.assign(env, opts.env);
  return new Promise((resolve, reject) => {
    // a group of its own, so that the timeout also ends what the CLI started
    const child = spawnGroup(process.execPath, [CLI_PATH, ...args], { cwd: opts.cwd ?? process.cwd(), env, stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => void stopGroup(child, 'SIGKILL'), opts.timeoutMs ?? WAIT.cli);
    child.once('exit', () => clearTimeout(timer));
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      resolve({
        code,
        signal,
        stdout,
        stderr,
        json<T>(): T {
          try {
            return JSON.parse(stdout) as T;
          } catch {
            throw new Error(`CLI output is not JSON (exit ${String(code)}):\nstdout: ${stdout}\nstderr: ${stderr}`);
          }
        },
      });
    });
    child.stdin!.on('error', () => undefined); // the CLI may exit without reading stdin
    child.stdin!.end(opts.input ?? '');
  });
}
