import t from 'tap';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { codeHash } from '../../../src/adapters/code-hash-files.js';
import { codeHashLines, compareUtf8, contentKind } from '../../../src/core/code-hash-format.js';
import { isUpshiftError } from '../../../src/core/errors.js';
import { gitRepo, type GitRepo } from '../../helpers/gitdir.js';
import { tempDir } from '../../helpers/tmp.js';

type Tap = Parameters<typeof gitRepo>[0];
const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/**
 * The documented format, computed from known contents without git or the adapter:
 * SHA-256 over `${path}\0${mode}\0${sha256hex(content)}\n` in UTF-8 byte order of paths.
 */
function expected(files: Array<{ path: string; mode: string; content: string | Buffer }>): string {
  const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  const outer = createHash('sha256');
  for (const f of sorted) outer.update(`${f.path}\0${f.mode}\0${sha256(f.content)}\n`);
  return outer.digest('hex');
}

function tinyRepo(t: Tap): GitRepo {
  const repo = gitRepo(t);
  repo.commit('tiny', { 'README.md': 'hello\n', 'src/app.js': 'console.log(1)\n', 'bin/run': '#!/bin/sh\necho run\n' }, { executable: ['bin/run'] });
  return repo;
}

const TINY = [
  { path: 'README.md', mode: '100644', content: 'hello\n' },
  { path: 'bin/run', mode: '100755', content: '#!/bin/sh\necho run\n' },
  { path: 'src/app.js', mode: '100644', content: 'console.log(1)\n' },
];

t.test('the hash of a tiny repo is the documented format, pinned', async (t) => {
  const repo = tinyRepo(t);
  const got = await codeHash(repo.dir);
  t.equal(got.hash, expected(TINY));
  t.equal(got.hash, '2e15a53babf5992d1449629c2accd6521dd022d5ced9d8cdda4f9a974a7c2d96', 'pinned, so a format change is noticed');
  t.equal(got.files, 3);
  t.equal(got.bytes, TINY.reduce((n, f) => n + Buffer.byteLength(f.content), 0));
});

t.test('the hash is stable across runs and across checkouts of the same commit', async (t) => {
  const repo = tinyRepo(t);
  const first = await codeHash(repo.dir);
  t.equal((await codeHash(repo.dir)).hash, first.hash);
  const clone = gitRepo(t);
  clone.git('fetch', '-q', repo.dir, 'main');
  clone.git('checkout', '-q', 'FETCH_HEAD');
  t.equal((await codeHash(clone.dir)).hash, first.hash);
});

t.test('changing one byte of one file changes the hash', async (t) => {
  const repo = tinyRepo(t);
  const before = await codeHash(repo.dir);
  writeFileSync(join(repo.dir, 'src/app.js'), 'console.log(2)\n');
  const after = await codeHash(repo.dir);
  t.not(after.hash, before.hash, 'the work tree content is hashed, not the committed blob');
  t.equal(after.hash, expected(TINY.map((f) => (f.path === 'src/app.js' ? { ...f, content: 'console.log(2)\n' } : f))));
});

t.test('making a file executable changes the hash', async (t) => {
  const repo = tinyRepo(t);
  const before = await codeHash(repo.dir);
  chmodSync(join(repo.dir, 'README.md'), 0o755);
  repo.commit('chmod +x');
  const after = await codeHash(repo.dir);
  t.not(after.hash, before.hash);
  t.equal(after.hash, expected(TINY.map((f) => (f.path === 'README.md' ? { ...f, mode: '100755' } : f))));
});

t.test('untracked and ignored files do not count', async (t) => {
  const repo = tinyRepo(t);
  const before = await codeHash(repo.dir);
  repo.write({ 'notes.txt': 'scratch\n', 'node_modules/x/index.js': 'x\n', '.gitignore-not-committed': 'y\n' });
  t.equal((await codeHash(repo.dir)).hash, before.hash);
});

t.test('a symlink is hashed by its target, not by what it points to', async (t) => {
  const repo = tinyRepo(t);
  symlinkSync('README.md', join(repo.dir, 'link'));
  repo.commit('link');
  const got = await codeHash(repo.dir);
  t.equal(got.hash, expected([...TINY, { path: 'link', mode: '120000', content: 'README.md' }]));
  writeFileSync(join(repo.dir, 'README.md'), 'changed\n');
  const changed = await codeHash(repo.dir);
  t.equal(changed.hash, expected([...TINY.map((f) => (f.path === 'README.md' ? { ...f, content: 'changed\n' } : f)), { path: 'link', mode: '120000', content: 'README.md' }]));
});

t.test('a gitlink (submodule) is hashed by its commit id', async (t) => {
  const repo = tinyRepo(t);
  const commit = repo.head();
  repo.git('update-index', '--add', '--cacheinfo', `160000,${commit},vendor/lib`);
  const got = await codeHash(repo.dir);
  t.equal(got.hash, expected([...TINY, { path: 'vendor/lib', mode: '160000', content: commit }]));
});

t.test('paths are ordered by their UTF-8 bytes, as git orders them', async (t) => {
  const repo = gitRepo(t);
  const files = { 'z.txt': 'z', 'é.txt': 'e', '😀.txt': 'smile', '\u{e000}.txt': 'private use', 'A.txt': 'A', 'a-b/c': '1', 'a/b': '2', 'a.b': '3' };
  repo.commit('unicode', files);
  const got = await codeHash(repo.dir);
  t.equal(got.hash, expected(Object.entries(files).map(([path, content]) => ({ path, mode: '100644', content }))));
});

t.test('a file larger than the read buffer is hashed whole', async (t) => {
  const repo = gitRepo(t);
  const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'abcdefghij');
  const exact = Buffer.alloc(1024 * 1024, 'x');
  mkdirSync(join(repo.dir, 'data'));
  writeFileSync(join(repo.dir, 'data/big.bin'), big);
  writeFileSync(join(repo.dir, 'data/exact.bin'), exact);
  repo.commit('big');
  const got = await codeHash(repo.dir, { workers: 0 });
  t.equal(got.hash, expected([{ path: 'data/big.bin', mode: '100644', content: big }, { path: 'data/exact.bin', mode: '100644', content: exact }]));
  t.equal(got.bytes, big.length + exact.length);
});

t.test('a tracked file missing from disk is E_WORKTREE naming it', async (t) => {
  const repo = tinyRepo(t);
  rmSync(join(repo.dir, 'src/app.js'));
  const err = await codeHash(repo.dir).catch((e: unknown) => e);
  t.ok(isUpshiftError(err, 'E_WORKTREE'), 'E_WORKTREE');
  t.match((err as Error).message, /tracked file src\/app\.js is missing/);
});

t.test('a missing symlink is E_WORKTREE naming it', async (t) => {
  const repo = tinyRepo(t);
  symlinkSync('README.md', join(repo.dir, 'link'));
  repo.commit('link');
  rmSync(join(repo.dir, 'link'));
  const err = await codeHash(repo.dir).catch((e: unknown) => e);
  t.ok(isUpshiftError(err, 'E_WORKTREE'));
  t.match((err as Error).message, /link is missing/);
});

t.test('a tracked path that is not UTF-8 is refused rather than hashed under another name', async (t) => {
  const repo = tinyRepo(t);
  writeFileSync(Buffer.concat([Buffer.from(`${repo.dir}/caf`), Buffer.from([0xe9])]), 'latin1 name');
  repo.commit('latin1');
  const err = await codeHash(repo.dir).catch((e: unknown) => e);
  t.ok(isUpshiftError(err, 'E_WORKTREE'));
  t.match((err as Error).message, /not valid UTF-8/);
});

t.test('a directory without its own .git is hashed by its files, never by an enclosing repository', async (t) => {
  const repo = tinyRepo(t);
  const got = await codeHash(join(repo.dir, 'src'));
  t.equal(got.hash, expected([{ path: 'app.js', mode: '100644', content: 'console.log(1)\n' }]), 'src/ alone, not the repository around it');
  t.equal((await codeHash(tempDir(t))).hash, sha256(''), 'an empty directory: the hash of nothing');
});

t.test('a large tree read by worker threads hashes the same as on the calling thread', async (t) => {
  const repo = gitRepo(t);
  const files: Array<{ path: string; mode: string; content: string }> = [];
  for (let i = 0; i < 2200; i++) {
    const path = `d${i % 17}/f${i}.txt`;
    const content = `file ${i}\n`.repeat(1 + (i % 50));
    files.push({ path, mode: '100644', content });
  }
  repo.commit('many', Object.fromEntries(files.map((f) => [f.path, f.content])));
  const inWorkers = await codeHash(repo.dir, { workers: 2, readOnCallingThread: false });
  const shared = await codeHash(repo.dir, { workers: 1 });
  const inThread = await codeHash(repo.dir, { workers: 0 });
  t.equal(inWorkers.hash, expected(files));
  t.equal(shared.hash, inWorkers.hash);
  t.equal(inThread.hash, inWorkers.hash);
  t.equal(inWorkers.files, 2200);
  t.equal(inWorkers.bytes, inThread.bytes);

  rmSync(join(repo.dir, 'd3/f1703.txt'));
  const err = await codeHash(repo.dir, { workers: 2, readOnCallingThread: false }).catch((e: unknown) => e);
  t.ok(isUpshiftError(err, 'E_WORKTREE'), 'a missing file found by a worker');
  t.match((err as Error).message, /tracked file d3\/f1703\.txt is missing/);
});

t.test('the pure line format: UTF-8 byte order, one line per path, known modes only', async (t) => {
  const names = ['b', 'a/b', 'a-b', 'a', '\u{e000}', '\u{1f600}', 'é', 'Z', 'ab'];
  const bytewise = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  t.same([...names].sort(compareUtf8), bytewise, 'compareUtf8 agrees with comparing UTF-8 bytes');
  t.ok(compareUtf8('\u{e000}', '\u{1f600}') < 0, 'U+E000 sorts before a supplementary-plane character');
  t.equal(compareUtf8('same', 'same'), 0);

  const h = 'a'.repeat(64);
  t.same(codeHashLines([{ path: 'b', mode: '100644', contentSha256: h }, { path: 'a', mode: '100755', contentSha256: h }]), [
    `a\u0000100755\u0000${h}\n`,
    `b\u0000100644\u0000${h}\n`,
  ]);
  t.throws(() => codeHashLines([{ path: 'x', mode: '100644', contentSha256: h }, { path: 'x', mode: '100644', contentSha256: h }]), { code: 'E_WORKTREE', message: /x appears more than once/ });
  t.throws(() => codeHashLines([{ path: 'x', mode: '100644', contentSha256: 'abc' }]), { code: 'E_INTERNAL' });
  t.equal(contentKind('100755', 'bin/run'), 'file');
  t.equal(contentKind('120000', 'link'), 'symlink');
  t.equal(contentKind('160000', 'vendor/lib'), 'gitlink');
  t.throws(() => contentKind('040000', 'dir'), { code: 'E_WORKTREE', message: /dir has unsupported mode 040000/ });
});

t.test('a tree without git metadata (an extracted bundle) hashes every file: the same hash as the commit it was made from', async (t) => {
  const dir = tempDir(t);
  for (const f of TINY) {
    mkdirSync(join(dir, f.path, '..'), { recursive: true });
    writeFileSync(join(dir, f.path), f.content);
    if (f.mode === '100755') chmodSync(join(dir, f.path), 0o755);
  }
  const got = await codeHash(dir);
  t.equal(got.hash, expected(TINY));
  t.equal(got.hash, (await codeHash(tinyRepo(t).dir)).hash, 'equal to the git tree it came from');
  writeFileSync(join(dir, 'extra.txt'), 'added\n');
  t.not((await codeHash(dir)).hash, got.hash, 'and a file added to it counts');
});
