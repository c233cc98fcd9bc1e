// How every git call is made safe, shared by the authority's source mirror and the node's
// release fetch: hooks and submodule recursion off, no config but the repository's own
// (which upshift created), an environment that cannot point git elsewhere or make it
// interactive, and non-zero exits reported with their code.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitError, GitPluginError, type SimpleGitOptions } from 'simple-git';

// Commands git would take from config (filter drivers, fsmonitor, credential helpers,
// ssh commands) can only come from the global or system config, which gitEnv() turns off:
// the repository config is upshift's own, and a filter named in .gitattributes without a
// driver defined passes content through. These overrides are the second line.
const SAFE_CONFIG = [
  'core.hooksPath=/dev/null', 'submodule.recurse=false', 'fetch.recurseSubmodules=false',
  'core.fsmonitor=false', 'core.attributesFile=/dev/null',
  // ext:: and fd:: run commands; only the transports a remote is written with are allowed.
  'protocol.allow=never', 'protocol.file.allow=always', 'protocol.git.allow=always',
  'protocol.ssh.allow=always', 'protocol.http.allow=always', 'protocol.https.allow=always',
];

// Environment variables that would point git at another repository or config, make it
// interactive, or add command-scope config that could undo SAFE_CONFIG.
const DROPPED_ENV = /^(?:GIT_(?:DIR|WORK_TREE|INDEX_FILE|OBJECT_DIRECTORY|ALTERNATE_OBJECT_DIRECTORIES|COMMON_DIR|NAMESPACE|PREFIX|CONFIG|CONFIG_PARAMETERS|CONFIG_COUNT|CONFIG_KEY_\d+|CONFIG_VALUE_\d+|EDITOR|SEQUENCE_EDITOR|PAGER|ASKPASS|EXTERNAL_DIFF|TEMPLATE_DIR|EXEC_PATH)|EDITOR|PAGER|SSH_ASKPASS|PREFIX)$/i;

export function gitEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !DROPPED_ENV.test(k)) env[k] = v;
  env.GIT_TERMINAL_PROMPT = '0';
  // No system or global config and no global attributes, wherever they would be found.
  const home = emptyHome();
  Object.assign(env, {
    GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_SYSTEM: '/dev/null', GIT_CONFIG_GLOBAL: '/dev/null', GIT_ATTR_NOSYSTEM: '1',
    HOME: home, XDG_CONFIG_HOME: home,
  });
  return env;
}

let home: string | null = null;

/**
 * An empty directory for git's HOME. One per user, kept (`upshift-git-home-<uid>`, mode 0700):
 * a directory per process leaked one into /tmp for every process that did not reach its
 * `exit` handlers (kill -9, a crash, SIGINT), about 200 a test run. If that path is not ours
 * as made (another user's, a link, open to group or others, or not empty), this process
 * makes a private one and removes it at exit. Made again if a tmp cleaner took it.
 */
function emptyHome(): string {
  if (home !== null && existsSync(home)) return home;
  const shared = join(tmpdir(), `upshift-git-home-${process.getuid?.() ?? 'user'}`);
  try {
    mkdirSync(shared, { mode: 0o700 });
  } catch { /* there already: checked below */ }
  if (ownEmptyDir(shared)) return (home = shared);
  const dir = mkdtempSync(join(tmpdir(), 'upshift-git-home-'));
  process.once('exit', () => {
    try {
      rmdirSync(dir);
    } catch { /* already gone, or not empty because someone else wrote there: left alone */ }
  });
  return (home = dir);
}

function ownEmptyDir(dir: string): boolean {
  try {
    const st = lstatSync(dir);
    const uid = process.getuid?.();
    return st.isDirectory() && (uid === undefined || st.uid === uid) && (st.mode & 0o077) === 0 && readdirSync(dir).length === 0;
  } catch {
    return false;
  }
}

/**
 * A non-zero git exit with its code. It must extend GitError: simple-git replaces any
 * other error class with a GitError carrying only the message.
 */
export class GitExit extends GitError {
  constructor(readonly exitCode: number, stderr: string) {
    super(undefined, stderr || `git exited with code ${exitCode}`);
  }
}

export const safeGitOptions = (baseDir: string, signal?: AbortSignal): Partial<SimpleGitOptions> => ({
  baseDir,
  config: SAFE_CONFIG,
  ...(signal ? { abort: signal } : {}),
  // simple-git refuses `-c core.hooksPath`, `core.fsmonitor`, `protocol.*` and `--template`
  // unless allowed, even when they turn things off; SSH/proxy variables are the operator's,
  // and the config-path variables are the ones gitEnv() sets.
  unsafe: {
    allowUnsafeHooksPath: true, allowUnsafeTemplateDir: true, allowUnsafeSshCommand: true, allowUnsafeGitProxy: true,
    allowUnsafeConfigPaths: true, allowUnsafeFsMonitor: true, allowUnsafeProtocolOverride: true,
  },
  // simple-git treats "exit != 0 with empty stderr" as success; `rev-parse --quiet` relies on it.
  errors(error, result) {
    if (error instanceof GitPluginError) return error;
    if (result.exitCode !== 0) return new GitExit(result.exitCode, Buffer.concat(result.stdErr).toString('utf8').trim());
    return error;
  },
});
