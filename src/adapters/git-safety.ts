// How every git call is made safe, shared by the authority's source mirror and the node's
// release fetch: hooks and submodule recursion off, an environment that cannot point git
// elsewhere or make it interactive, and non-zero exits reported with their code.
import { GitError, GitPluginError, type SimpleGitOptions } from 'simple-git';

const SAFE_CONFIG = ['core.hooksPath=/dev/null', 'submodule.recurse=false', 'fetch.recurseSubmodules=false'];

// Environment variables that would point git at another repository or config, make it
// interactive, or add command-scope config that could undo SAFE_CONFIG.
const DROPPED_ENV = /^(?:GIT_(?:DIR|WORK_TREE|INDEX_FILE|OBJECT_DIRECTORY|ALTERNATE_OBJECT_DIRECTORIES|COMMON_DIR|NAMESPACE|PREFIX|CONFIG_PARAMETERS|CONFIG_COUNT|CONFIG_KEY_\d+|CONFIG_VALUE_\d+|EDITOR|SEQUENCE_EDITOR|PAGER|ASKPASS|EXTERNAL_DIFF|TEMPLATE_DIR|EXEC_PATH)|EDITOR|PAGER|SSH_ASKPASS|PREFIX)$/i;

export function gitEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !DROPPED_ENV.test(k)) env[k] = v;
  env.GIT_TERMINAL_PROMPT = '0';
  return env;
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
  // simple-git refuses `-c core.hooksPath` and `--template` unless allowed, even when they
  // turn hooks and templates off; SSH/proxy/config-path variables are the operator's.
  unsafe: { allowUnsafeHooksPath: true, allowUnsafeTemplateDir: true, allowUnsafeSshCommand: true, allowUnsafeGitProxy: true, allowUnsafeConfigPaths: true },
  // simple-git treats "exit != 0 with empty stderr" as success; `rev-parse --quiet` relies on it.
  errors(error, result) {
    if (error instanceof GitPluginError) return error;
    if (result.exitCode !== 0) return new GitExit(result.exitCode, Buffer.concat(result.stdErr).toString('utf8').trim());
    return error;
  },
});
