// The authority's view of the application's source: a bare mirror fetched from the
// remote, and detached work trees checked out of it. Every git call goes through `git()`
// below so that hooks, submodules, prompts and inherited repo env are off everywhere.
import { existsSync, mkdirSync, realpathSync, rmSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { shownRemote } from './git-remote.js';
import { simpleGit, GitPluginError } from 'simple-git';
import { gitEnv, GitExit, safeGitOptions } from './git-safety.js';
import { UpshiftError } from '../core/errors.js';
import type { SourceRepo, TreeEntry } from '../core/ports.js';

export interface GitLog {
  debug(obj: object, msg?: string): void;
}

export interface SourceRepoOptions {
  /** URL or path of the application's repository. */
  remote: string;
  /** Where the bare mirror lives; created on first fetch. */
  mirrorDir: string;
  log?: GitLog;
}

const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const SHORT_SHA = /^[0-9a-f]{7,64}$/;
// Characters git itself refuses in ref names (git-check-ref-format) plus the ones that
// would turn a name into an option or a revision expression. Checked before any git call.
const BAD_REF = /^-|\.\.|@\{|[\s\x00-\x1f\x7f~^:?*[\\]/;


export { shownRemote };

// What changes a mirror (a fetch; a work tree added or removed) runs one at a time per
// mirror in this process: two fetches fail on each other's ref locks, and a fetch's
// connectivity check reads every work tree's HEAD, which `worktree add` writes in two steps
// ("bad object worktrees/<run>/HEAD" when a run was started beside a running one).
const mirrorTurns = new Map<string, Promise<unknown>>();
// what a fetch reports when another process changed the mirror under it
const CONCURRENT = /cannot lock ref|bad object worktrees\/|did not send all necessary objects/;
// `git maintenance run --auto` (it repacks once loose objects pile up) after a fetch at most
// this often per mirror: git would start it after every fetch, an extra process each poll
const MAINTENANCE_EVERY_MS = 60 * 60_000;

function inTurn<T>(mirrorDir: string, fn: () => Promise<T>): Promise<T> {
  const mine = (mirrorTurns.get(mirrorDir) ?? Promise.resolve()).catch(() => undefined).then(fn);
  mirrorTurns.set(mirrorDir, mine);
  void mine.finally(() => { if (mirrorTurns.get(mirrorDir) === mine) mirrorTurns.delete(mirrorDir); }).catch(() => undefined);
  return mine;
}

export function createSourceRepo(opts: SourceRepoOptions): SourceRepo {
  const { log } = opts;
  const mirrorDir = resolvePath(opts.mirrorDir);
  const remote = shownRemote(opts.remote);
  if (opts.remote.startsWith('-') || opts.remote.trim() !== opts.remote || opts.remote === '') {
    throw new UpshiftError('E_CONFIG', `git remote ${JSON.stringify(remote)} is not a valid repository address`);
  }

  async function git(args: string[], o: { cwd?: string; signal?: AbortSignal } = {}): Promise<string> {
    const cwd = o.cwd ?? mirrorDir;
    const shown = args.map((a) => (a === opts.remote ? remote : a));
    log?.debug({ module: 'git', cwd, args: shown }, 'git');
    try {
      return await simpleGit(safeGitOptions(cwd, o.signal)).env(gitEnv()).raw(args);
    } catch (err) {
      if (o.signal?.aborted || (err instanceof GitPluginError && err.plugin === 'abort')) {
        throw new UpshiftError('E_CANCELLED', `git ${args[0]} cancelled`, { cause: err });
      }
      const exitCode = err instanceof GitExit ? err.exitCode : undefined;
      const stderr = err instanceof Error ? err.message.trim() : String(err);
      throw new UpshiftError('E_GIT', `git ${args[0]} failed: ${stderr}`, { cause: err, details: { args: shown, cwd, exitCode } });
    }
  }

  /** `rev-parse --verify --quiet X^{commit}`: the commit, or null when X names no commit. */
  async function peel(rev: string): Promise<string | null> {
    // Without this, "not a repository" (exit 128) would read as "no such ref" below.
    if (!existsSync(join(mirrorDir, 'HEAD'))) {
      throw new UpshiftError('E_GIT', `no mirror of ${remote} at ${mirrorDir} yet: fetch first`);
    }
    try {
      return (await git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`])).trim() || null;
    } catch (err) {
      // Exit 1 is "no such object"; 128 is "exists but is not a commit" (a tag of a tree).
      const exit = err instanceof UpshiftError ? err.details?.exitCode : undefined;
      if (exit === 1 || exit === 128) return null;
      throw err;
    }
  }

  // set once a fetch succeeded: the mirror is whole, and `init` has nothing to repair
  let mirrorSound = false;
  let maintainedAt = -Infinity;

  function checkRefName(ref: string): void {
    if (ref === '' || BAD_REF.test(ref)) {
      throw new UpshiftError('E_UNKNOWN_REF', `${JSON.stringify(ref)} is not a valid ref name (remote ${remote})`);
    }
  }

  function checkCommit(commit: string): void {
    if (!FULL_SHA.test(commit)) {
      throw new UpshiftError('E_BAD_COMMIT', `${JSON.stringify(commit)} is not a full lowercase commit id`);
    }
  }

  async function removeLeftover(dir: string): Promise<void> {
    // The directory is removed recursively: never the root, the mirror, or anything holding it.
    if (dir === '/' || mirrorDir === dir || mirrorDir.startsWith(`${dir}/`)) {
      throw new UpshiftError('E_WORKTREE', `refusing to use ${dir} as a work tree: it holds the mirror or is the root`);
    }
    // Each step may fail harmlessly (not a work tree, already gone); the last two make sure
    // neither the directory nor the mirror's record of it survives.
    await git(['worktree', 'remove', '--force', dir]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    await git(['worktree', 'prune']);
  }

  return {
    fetch(signal) {
      return inTurn(mirrorDir, async () => {
        // `init` on an existing repository only re-initializes it, so a mirror half-created
        // by a crash is repaired here and then simply fetched again: on this process's first
        // fetch, after a failed one, and whenever the mirror is not there
        if (!mirrorSound || !existsSync(join(mirrorDir, 'HEAD'))) {
          mkdirSync(mirrorDir, { recursive: true });
          // no --quiet: simple-git adds 50 ms to a command that printed nothing (see release-dir.ts)
          await git(['init', '--bare'], { signal });
        }
        mirrorSound = false;
        const args = ['fetch', '--prune', '--no-tags', '--no-recurse-submodules', '--no-auto-maintenance', opts.remote,
          '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'];
        // another process on the same mirror (the daemon's poll, a CLI's run) is not in turn
        // with this one: what its fetch or work tree does to ours is tried again, up to three times
        for (let attempt = 1; ; attempt++) {
          try {
            await git(args, { signal });
            break;
          } catch (err) {
            if (attempt >= 4 || signal?.aborted || !CONCURRENT.test((err as Error).message)) throw err;
            await new Promise((r) => setTimeout(r, 100 * attempt + Math.random() * 200));
          }
        }
        mirrorSound = true;
        if (Date.now() - maintainedAt >= MAINTENANCE_EVERY_MS) {
          maintainedAt = Date.now();
          // as after git's own fetch, a failure (another process holds the lock) fails nothing
          await git(['maintenance', 'run', '--auto'], { signal }).catch((err: Error) => log?.debug({ err: err.message }, 'git maintenance failed'));
        }
      });
    },

    async resolve(ref) {
      checkRefName(ref);
      const lower = ref.toLowerCase();
      if (FULL_SHA.test(lower)) {
        const commit = await peel(lower);
        if (commit === lower) return commit;
        throw new UpshiftError('E_UNKNOWN_REF', `commit ${ref} does not exist in the mirror of ${remote}`);
      }
      const found = (await peel(`refs/heads/${ref}`)) ?? (await peel(`refs/tags/${ref}`));
      if (found) return found;
      if (SHORT_SHA.test(lower)) {
        const commit = await peel(lower);
        // rev-parse also accepts other ref names; only a prefix match is an abbreviated id.
        if (commit?.startsWith(lower)) return commit;
      }
      throw new UpshiftError('E_UNKNOWN_REF', `${ref} is not a branch, tag or unique commit id of ${remote}`);
    },

    async branchHead(branch) {
      checkRefName(branch);
      return peel(`refs/heads/${branch}`);
    },

    async tags() {
      const out = await git(['for-each-ref', '--format=%(refname:strip=2) %(objecttype) %(objectname) %(*objecttype) %(*objectname)', 'refs/tags']);
      const result: Array<{ tag: string; commit: string }> = [];
      for (const line of out.split('\n')) {
        const [tag, type, oid, derefType, derefOid] = line.trim().split(' ');
        if (!tag || !oid) continue;
        if (type === 'commit') result.push({ tag, commit: oid });
        else if (type === 'tag' && derefType === 'commit' && derefOid) result.push({ tag, commit: derefOid });
        else if (type === 'tag' && derefType === 'tag') {
          // for-each-ref peels one level only; a tag of a tag needs a full peel.
          const commit = await peel(`refs/tags/${tag}`);
          if (commit) result.push({ tag, commit });
        }
        // Tags of trees or blobs name no release: left out.
      }
      return result;
    },

    async checkout(commit, dir, signal) {
      checkCommit(commit);
      const target = resolvePath(dir);
      await inTurn(mirrorDir, async () => {
        await removeLeftover(target);
        await git(['worktree', 'add', '--detach', '--force', target, commit], { signal });
      });
      // Asking for the top level too: in a directory that is not a work tree, git would
      // silently answer for whatever repository encloses it.
      const [top, head] = (await git(['rev-parse', '--show-toplevel', 'HEAD'], { cwd: target, signal })).trim().split('\n');
      if (top !== realpathSync(target) || head !== commit) {
        throw new UpshiftError('E_WORKTREE', `work tree at ${target} has HEAD ${head ?? '?'}, expected ${commit}`, {
          details: { dir: target, top, head, commit },
        });
      }
    },

    async removeWorktree(dir) {
      const target = resolvePath(dir);
      if (!existsSync(mirrorDir)) return rmSync(target, { recursive: true, force: true });
      await inTurn(mirrorDir, () => removeLeftover(target));
    },

    async tree(commit) {
      checkCommit(commit);
      const out = await git(['ls-tree', '-r', '-z', '--full-tree', commit]);
      const entries: TreeEntry[] = [];
      for (const record of out.split('\0')) {
        if (record === '') continue;
        // "<mode> SP <type> SP <oid> TAB <path>"; the path may itself contain spaces or tabs.
        const tab = record.indexOf('\t');
        const [mode, , oid] = record.slice(0, tab).split(' ');
        if (tab < 0 || !mode || !oid) throw new UpshiftError('E_GIT', `unexpected ls-tree output: ${JSON.stringify(record)}`);
        entries.push({ path: record.slice(tab + 1), mode, oid });
      }
      return entries;
    },
  };
}
