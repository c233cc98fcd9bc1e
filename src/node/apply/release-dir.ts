// SPEC step 2: fetch exactly the pinned commit from `app.remote` into a fresh
// `releases/<version>-<shortsha>/`. Full SHA only; hooks and submodules off on every git
// call (the same guards as adapters/git.ts: `-c core.hooksPath=/dev/null`, no global or
// system config, a scrubbed environment); HEAD verified after checkout, so what is
// switched to is what was signed.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UpshiftError } from '../../core/errors.js';
import { checkVersionName } from '../../core/decisions/acceptance.js';

export const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
// A release dir name is built from the version: one safe path segment, no dot-dot, no
// leading dot or dash, nothing a shell or a path join could reinterpret.

export function checkCommit(commit: string): void {
  if (!FULL_SHA.test(commit)) throw new UpshiftError('E_BAD_COMMIT', `${JSON.stringify(commit)} is not a full lowercase hex commit id`);
}

/** `<version>-<first 12 hex of the commit>`; both checked first. */
export function releaseName(version: string, commit: string): string {
  checkVersionName(version);
  checkCommit(commit);
  return `${version}-${commit.slice(0, 12)}`;
}


export interface FetchRequest {
  remote: string;
  commit: string;
  /** A directory that does not exist yet (the caller removed any leftover). */
  dir: string;
  signal?: AbortSignal;
}

/** Fetch and check out `commit` into `dir`. E_BAD_COMMIT, E_FETCH (retryable), E_GIT or E_CANCELLED. */
export async function fetchRelease(req: FetchRequest): Promise<void> {
  checkCommit(req.commit);
  const remote = req.remote.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
  if (req.remote === '' || req.remote.startsWith('-') || req.remote.trim() !== req.remote) {
    throw new UpshiftError('E_CONFIG', `app.remote ${JSON.stringify(remote)} is not a valid repository address`);
  }
  if (existsSync(req.dir)) throw new UpshiftError('E_WORKTREE', `release dir ${req.dir} already exists; a release is always fetched fresh`);
  mkdirSync(req.dir, { recursive: true });
  // simple-git (about 11 MB resident) is loaded at the first apply, not by every idle daemon
  const [{ simpleGit, GitPluginError }, { gitEnv, GitExit, safeGitOptions }] = await Promise.all([
    import('simple-git'), import('../../adapters/git-safety.js'),
  ]);

  const git = async (args: string[]): Promise<string> => {
    try {
      return await simpleGit(safeGitOptions(req.dir, req.signal)).env(gitEnv()).raw(args);
    } catch (err) {
      if (req.signal?.aborted || (err instanceof GitPluginError && err.plugin === 'abort')) {
        throw new UpshiftError('E_CANCELLED', `git ${args[0]} cancelled`, { cause: err });
      }
      const stderr = (err instanceof Error ? err.message : String(err)).trim().replaceAll(req.remote, remote);
      throw new UpshiftError('E_GIT', `git ${args[0]} failed: ${stderr}`, { cause: err, details: { exitCode: err instanceof GitExit ? err.exitCode : undefined } });
    }
  };

  // No template: nothing from the operator's template dir (hooks included) lands in .git.
  // No --quiet anywhere: simple-git waits an extra 50 ms after a command that printed
  // nothing (measured: 3 × 50 ms of a 200 ms fetch), and what git prints is discarded.
  await git(['init', '--template=']);
  const base = ['fetch', '--no-tags', '--no-recurse-submodules'];
  try {
    await git([...base, '--depth', '1', req.remote, req.commit]);
  } catch (byShaErr) {
    if ((byShaErr as UpshiftError).code === 'E_CANCELLED') throw byShaErr;
    // Servers without allow*SHA1InWant refuse a want by id: fetch the branches and tags
    // instead and look for the commit among them.
    try {
      await git([...base, req.remote, '+refs/heads/*:refs/upshift/heads/*', '+refs/tags/*:refs/upshift/tags/*']);
    } catch (fullErr) {
      if ((fullErr as UpshiftError).code === 'E_CANCELLED') throw fullErr;
      throw new UpshiftError('E_FETCH', `cannot fetch ${req.commit} from ${remote}: ${(fullErr as Error).message}`, { cause: fullErr, details: { commit: req.commit } });
    }
    const found = await git(['cat-file', '-e', `${req.commit}^{commit}`]).then(() => true, () => false);
    if (!found) {
      throw new UpshiftError('E_FETCH', `commit ${req.commit} is not in ${remote}`, { cause: byShaErr, details: { commit: req.commit } });
    }
  }
  await git(['checkout', '--detach', req.commit]);
  // HEAD as git itself keeps it: the repository we just made in req.dir, detached at one id
  // (read from the file rather than by a fifth git process).
  const head = readFileSync(join(req.dir, '.git', 'HEAD'), 'utf8').trim();
  if (head !== req.commit) {
    throw new UpshiftError('E_WORKTREE', `release at ${req.dir} has HEAD ${head}, expected ${req.commit}`, { details: { head, commit: req.commit } });
  }
}
