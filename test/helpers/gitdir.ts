// Real git repositories in temp dirs, in the manner of changesets' gitdir(). A process a
// test starts costs it more CPU the larger it is (fork copies its page tables: ~5 ms from a
// 150 MB test process): init and commit are one process each, not three.
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempDir } from './tmp.js';

// GIT_DIR and friends (set inside git hooks) would point every call at another repository
const { GIT_DIR: _d, GIT_WORK_TREE: _w, GIT_INDEX_FILE: _i, ...inherited } = process.env;

const GIT_ENV = {
  ...inherited,
  GIT_AUTHOR_NAME: 'upshift test',
  GIT_AUTHOR_EMAIL: 'test@upshift.invalid',
  GIT_COMMITTER_NAME: 'upshift test',
  GIT_COMMITTER_EMAIL: 'test@upshift.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  HOME: process.env.HOME ?? '/tmp',
};

export interface GitRepo {
  dir: string;
  git(...args: string[]): string;
  /** Write files (path → content); paths listed in `executable` get mode 0755. */
  write(files: Record<string, string>, opts?: { executable?: string[] }): void;
  /** Stage everything and commit; returns the new commit SHA. */
  commit(message: string, files?: Record<string, string>, opts?: { executable?: string[] }): string;
  tag(name: string, opts?: { annotated?: boolean; ref?: string }): void;
  head(): string;
}

export function gitRepo(t: { teardown(fn: () => void): void }, opts: { branch?: string } = {}): GitRepo {
  const dir = tempDir(t, 'upshift-git-');
  const run = (cmd: string, args: string[]): string =>
    execFileSync(cmd, args, { cwd: dir, env: GIT_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const git = (...args: string[]): string => run('git', args);
  git('init', '-q', '-b', opts.branch ?? 'main');
  appendFileSync(join(dir, '.git', 'config'), '[commit]\n\tgpgsign = false\n[tag]\n\tgpgsign = false\n');
  const write: GitRepo['write'] = (files, o = {}) => {
    for (const [path, content] of Object.entries(files)) {
      const full = join(dir, path);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, content);
      if (o.executable?.includes(path)) chmodSync(full, 0o755);
    }
  };
  return {
    dir,
    git,
    write,
    commit(message, files, o) {
      if (files) write(files, o);
      return run('/bin/sh', ['-c', 'git add -A && git commit -q --allow-empty -m "$1" && git rev-parse HEAD', 'sh', message]);
    },
    tag(name, o = {}) {
      const args = o.annotated ? ['tag', '-a', name, '-m', name] : ['tag', name];
      if (o.ref) args.push(o.ref);
      git(...args);
    },
    head: () => git('rev-parse', 'HEAD'),
  };
}
