import t from 'tap';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createSourceRepo } from '../../../src/adapters/git.js';
import { repoPath } from '../../helpers/paths.js';
import { spawnChild } from '../../helpers/procs.js';
import { gitRepo } from '../../helpers/gitdir.js';
import { tempDir } from '../../helpers/tmp.js';

/** A source repo with two commits on main, a lightweight and an annotated tag. */
function fixture(t: { teardown(fn: () => void): void }) {
  const src = gitRepo(t);
  const first = src.commit('first', { 'README.md': 'one\n', 'bin/run.sh': '#!/bin/sh\necho hi\n' }, { executable: ['bin/run.sh'] });
  src.tag('v1.0.0');
  const second = src.commit('second', { 'README.md': 'two\n', 'src/app.js': 'console.log(2)\n' });
  src.tag('v1.1.0', { annotated: true });
  const work = tempDir(t);
  const repo = createSourceRepo({ remote: src.dir, mirrorDir: join(work, 'mirror') });
  return { src, first, second, work, repo };
}

/** Every regular file under dir except git's own `.git` link, as path → content. */
function filesOf(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${name}` : name;
    if (rel === '.git') continue;
    if (statSync(join(dir, rel)).isDirectory()) Object.assign(out, filesOf(dir, rel));
    else out[rel] = readFileSync(join(dir, rel), 'utf8');
  }
  return out;
}

t.test('fetch mirrors branches and tags; resolve finds branch, tags and commit ids', async (t) => {
  const { first, second, repo } = fixture(t);
  await repo.fetch();
  t.equal(await repo.resolve('main'), second, 'branch');
  t.equal(await repo.resolve('v1.0.0'), first, 'lightweight tag');
  t.equal(await repo.resolve('v1.1.0'), second, 'annotated tag is peeled to its commit');
  t.equal(await repo.resolve(first), first, 'full SHA');
  t.equal(await repo.resolve(first.slice(0, 9)), first, 'abbreviated SHA');
  t.equal(await repo.branchHead('main'), second);
  t.equal(await repo.branchHead('nope'), null, 'missing branch is null');
  t.same(
    (await repo.tags()).sort((a, b) => a.tag.localeCompare(b.tag)),
    [{ tag: 'v1.0.0', commit: first }, { tag: 'v1.1.0', commit: second }],
  );
});

t.test('tags peels nested annotated tags and leaves out tags of trees', async (t) => {
  const { src, second, repo } = fixture(t);
  src.git('tag', '-a', 'v1.1.0-nested', '-m', 'nested', 'v1.1.0');
  src.git('tag', '-a', 'tree-tag', '-m', 'tree', 'HEAD^{tree}');
  await repo.fetch();
  const tags = new Map((await repo.tags()).map((e) => [e.tag, e.commit]));
  t.equal(tags.get('v1.1.0-nested'), second);
  t.notOk(tags.has('tree-tag'));
  await t.rejects(repo.resolve('tree-tag'), { code: 'E_UNKNOWN_REF' }, 'a tag of a tree names no commit');
});

t.test('unknown refs and option-like refs are refused with E_UNKNOWN_REF', async (t) => {
  const { repo } = fixture(t);
  await repo.fetch();
  for (const ref of ['nope', 'v9.9.9', '0123456789abcdef0123456789abcdef01234567', 'deadbee', '--upload-pack=evil',
    '-b', 'main..v1.0.0', 'main v1', 'main\n', 'HEAD~1', 'main^{tree}', '']) {
    await t.rejects(repo.resolve(ref), { code: 'E_UNKNOWN_REF' }, `${JSON.stringify(ref)} refused`);
  }
  await t.rejects(repo.resolve('nope'), { message: /nope.*upshift-git-/ }, 'message names the ref and the remote');
});

t.test('a ref that starts with "-" never reaches git', async (t) => {
  const { repo, work } = fixture(t);
  // No fetch: any git call would fail with E_GIT, so E_UNKNOWN_REF proves it was refused first.
  await t.rejects(repo.resolve('--upload-pack=touch ' + join(work, 'pwned')), { code: 'E_UNKNOWN_REF' });
  t.notOk(existsSync(join(work, 'pwned')));
});

t.test('checkout produces exactly the files of the commit with HEAD at it', async (t) => {
  const { first, second, work, repo } = fixture(t);
  await repo.fetch();
  const dir = join(work, 'trees', 'release');
  await repo.checkout(first, dir);
  t.same(filesOf(dir), { 'README.md': 'one\n', 'bin/run.sh': '#!/bin/sh\necho hi\n' });
  t.ok(statSync(join(dir, 'bin/run.sh')).mode & 0o100, 'executable bit kept');

  // A leftover from a crashed run, with stray files, is replaced rather than merged.
  writeFileSync(join(dir, 'stray.txt'), 'left behind');
  await repo.checkout(second, dir);
  t.same(filesOf(dir), { 'README.md': 'two\n', 'bin/run.sh': '#!/bin/sh\necho hi\n', 'src/app.js': 'console.log(2)\n' });

  await repo.removeWorktree(dir);
  t.notOk(existsSync(dir), 'work tree removed');
});

t.test('checkout over a plain directory left behind works', async (t) => {
  const { first, work, repo } = fixture(t);
  await repo.fetch();
  const dir = join(work, 'plain');
  mkdirSync(join(dir, 'junk'), { recursive: true });
  writeFileSync(join(dir, 'junk', 'x'), 'x');
  await repo.checkout(first, dir);
  t.same(Object.keys(filesOf(dir)).sort(), ['README.md', 'bin/run.sh']);
});

t.test('checkout refuses anything but a full commit id', async (t) => {
  const { first, work, repo } = fixture(t);
  await repo.fetch();
  for (const bad of ['main', first.slice(0, 12), first.toUpperCase(), `${first}x`]) {
    await t.rejects(repo.checkout(bad, join(work, 'x')), { code: 'E_BAD_COMMIT' });
  }
});

t.test('checkout never clears the mirror or a directory holding it', async (t) => {
  const { first, work, repo } = fixture(t);
  await repo.fetch();
  for (const dir of [join(work, 'mirror'), work, '/']) await t.rejects(repo.checkout(first, dir), { code: 'E_WORKTREE' }, dir);
  t.equal(await repo.resolve('main'), await repo.resolve('v1.1.0'), 'mirror intact');
});

t.test('checkout of a commit the mirror lacks fails with E_GIT', async (t) => {
  const { work, repo } = fixture(t);
  await repo.fetch();
  await t.rejects(repo.checkout('0123456789abcdef0123456789abcdef01234567', join(work, 'x')), { code: 'E_GIT' });
});

t.test('new commits, moved tags and deleted branches show up after another fetch', async (t) => {
  const { src, repo } = fixture(t);
  await repo.fetch();
  src.git('branch', 'feature');
  const third = src.commit('third', { 'README.md': 'three\n' });
  src.tag('v1.2.0');
  src.git('tag', '-f', 'v1.0.0', third);
  await repo.fetch();
  t.equal(await repo.branchHead('main'), third);
  t.equal(await repo.resolve('v1.2.0'), third);
  t.equal(await repo.resolve('v1.0.0'), third, 'a force-moved tag follows the source');
  t.ok(await repo.branchHead('feature'));
  src.git('branch', '-D', 'feature');
  await repo.fetch();
  t.equal(await repo.branchHead('feature'), null, 'pruned');
});

t.test('a half-created mirror is fetched again', async (t) => {
  const { second, work, repo } = fixture(t);
  mkdirSync(join(work, 'mirror'), { recursive: true });
  writeFileSync(join(work, 'mirror', 'HEAD'), 'ref: refs/heads/main\n');
  await repo.fetch();
  t.equal(await repo.resolve('main'), second);
});

t.test('a mirror removed or broken after a good fetch is made whole again', async (t) => {
  const { second, work, repo } = fixture(t);
  await repo.fetch();
  rmSync(join(work, 'mirror'), { recursive: true });
  await repo.fetch();
  t.equal(await repo.resolve('main'), second, 'removed: made again on the next fetch');
  rmSync(join(work, 'mirror', 'objects'), { recursive: true });
  await t.rejects(repo.fetch(), { code: 'E_GIT' }, 'objects gone: the fetch fails');
  await repo.fetch();
  t.equal(await repo.resolve('main'), second, 'and the next one repairs the mirror first');
});

t.test('tree lists every file with its mode and blob id', async (t) => {
  const { src, first, repo } = fixture(t);
  await repo.fetch();
  const entries = await repo.tree(first);
  t.same(entries.map((e) => [e.path, e.mode]), [['README.md', '100644'], ['bin/run.sh', '100755']]);
  t.equal(entries[0]?.oid, src.git('rev-parse', `${first}:README.md`));
});

t.test('a post-checkout hook in the mirror never runs', async (t) => {
  const { first, work, repo } = fixture(t);
  await repo.fetch();
  const marker = join(work, 'hook-ran');
  const hook = join(work, 'mirror', 'hooks', 'post-checkout');
  mkdirSync(join(work, 'mirror', 'hooks'), { recursive: true });
  writeFileSync(hook, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
  await repo.checkout(first, join(work, 'tree'));
  t.notOk(existsSync(marker), 'hook did not run');
});

t.test('an aborted fetch is E_CANCELLED', async (t) => {
  const { repo } = fixture(t);
  await t.rejects(repo.fetch(AbortSignal.abort()), { code: 'E_CANCELLED' });
});

t.test('a fetch from a missing remote is E_GIT carrying git\'s own reason', async (t) => {
  const work = tempDir(t);
  const repo = createSourceRepo({ remote: join(work, 'nowhere'), mirrorDir: join(work, 'mirror') });
  await t.rejects(repo.fetch(), { code: 'E_GIT', message: /does not appear to be a git repository/, details: { exitCode: 128 } });
});

t.test('credentials in the remote URL stay out of errors and logs', async (t) => {
  const lines: object[] = [];
  const repo = createSourceRepo({
    remote: 'https://bot:s3cret@127.0.0.1:9/app.git',
    mirrorDir: join(tempDir(t), 'mirror'),
    log: { debug: (obj) => lines.push(obj) },
  });
  const err = await repo.fetch().then(() => null, (e: unknown) => e);
  t.match(err, { code: 'E_GIT' });
  t.notMatch(JSON.stringify({ err, message: (err as Error).message, lines }), /s3cret/);
  await t.rejects(repo.resolve('x'), { message: /https:\/\/\*\*\*@127\.0\.0\.1:9\/app\.git/ });
});

t.test('resolve before any fetch says the mirror is missing', async (t) => {
  const { repo } = fixture(t);
  await t.rejects(repo.resolve('main'), { code: 'E_GIT' });
});


t.test('fetches and work tree checkouts at once on one mirror all succeed', async (t) => {
  // a fetch's connectivity check reads every work tree's HEAD, which `worktree add` writes in
  // two steps: seen as "bad object worktrees/<run>/HEAD" when a run started beside another
  const { src, second, work, repo } = fixture(t);
  await repo.fetch();
  const ops: Array<Promise<unknown>> = [];
  for (let i = 0; i < 12; i++) {
    src.commit(`more ${i}`, { [`f${i}.txt`]: `${i}\n` });
    ops.push(repo.fetch(), repo.checkout(second, join(work, `wt-${i}`)));
  }
  const results = await Promise.allSettled(ops);
  t.same(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), [], 'none failed');
  t.equal(await repo.resolve('main'), src.git('rev-parse', 'HEAD').trim(), 'the last commit fetched');
});

t.test('a fetch beside another process adding work trees to the same mirror succeeds', async (t) => {
  const { src, second, work, repo } = fixture(t);
  await repo.fetch();
  const gitJs = pathToFileURL(repoPath('dist', 'src', 'adapters', 'git.js')).href;
  const other = `const { createSourceRepo } = await import(${JSON.stringify(gitJs)});
    const repo = createSourceRepo({ remote: ${JSON.stringify(src.dir)}, mirrorDir: ${JSON.stringify(join(work, 'mirror'))} });
    for (let i = 0; i < 12; i++) await repo.checkout(${JSON.stringify(second)}, ${JSON.stringify(join(work, 'other'))} + i);
    console.log('done');`;
  const child = spawnChild(t, process.execPath, ['--input-type=module', '-e', other], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const fetched: string[] = [];
  for (let i = 0; i < 12; i++) {
    src.commit(`beside ${i}`, { [`g${i}.txt`]: `${i}\n` });
    fetched.push(await repo.fetch().then(() => 'ok', (err: Error) => err.message));
  }
  t.equal(await exited, 0, 'the other process added its work trees');
  t.match(out, /done/);
  t.same(fetched.filter((f) => f !== 'ok'), [], 'every fetch succeeded');
});
