// Re-attestation with a tree watch (issue 9): once armed, a pass stats only the files of
// directories that reported an event, and every kind of change made on disk is still found by
// the next pass. Each change is made right before the pass, with no await in between: the
// pass itself must wait for the kernel's events. The counters (files stat'ed or not) are
// asserted, never times. The cache's clock runs ahead so files written now count as settled.
import t, { type Test } from 'tap';
import { chmodSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { codeHash } from '../../../src/adapters/code-hash-files.js';
import { StatCache } from '../../../src/adapters/stat-cache.js';
import { TreeWatch, type TreeWatchOptions } from '../../../src/adapters/tree-watch.js';
import { gitRepo } from '../../helpers/gitdir.js';
import { kernelWatches } from '../../helpers/inotify.js';
import { tempDir } from '../../helpers/tmp.js';

const FILES = { 'a.js': 'a\n', 'run.sh': '#!/bin/sh\n', 'lib/b.js': 'b = 1\n', 'lib/c.txt': 'ccc\n', 'lib/deep/d.js': 'd\n' };
const ALL = 5;
/** Files outside lib/ (lib/ holds two). */
const NOT_LIB = 3;

function tree(t: Tap.Test, opts: TreeWatchOptions = {}) {
  const repo = gitRepo(t);
  repo.commit('v1', FILES, { executable: ['run.sh'] });
  const cache = new StatCache({ now: () => Date.now() + 10_000 });
  const watch = new TreeWatch(opts);
  t.teardown(() => watch.close());
  const base = kernelWatches();
  return {
    repo, cache, watch, base,
    path: (p: string) => join(repo.dir, p),
    pass: () => codeHash(repo.dir, { cache, watch }),
    full: async () => (await codeHash(repo.dir)).hash,
  };
}

/** A tree whose watch is armed (first pass, every file stat'ed) and trusted (second pass, none). */
async function armed(t: Test, opts: TreeWatchOptions = {}) {
  const x = tree(t, opts);
  const first = await x.pass();
  t.equal(first.watched, 0, 'the pass that arms the watch stats every file');
  const second = await x.pass();
  t.equal(second.watched, ALL, 'the next one none');
  return { ...x, hash: second.hash };
}

/** Lets the loop deliver the events queued so far (as a pass does first). */
const settle = async () => {
  for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
};

t.test('an unchanged tree: one watch per directory, no file stat\'ed, the full hash', async (t) => {
  const x = await armed(t);
  t.equal(x.hash, await x.full());
  t.equal(x.watch.size, 3, 'the root, lib and lib/deep');
  t.equal(kernelWatches() - x.base, 3, 'as the kernel counts them');
  const again = await x.pass();
  t.match(again, { hash: x.hash, watched: ALL, cached: ALL });
  x.watch.close();
  t.equal(kernelWatches(), x.base, 'close() removes every watch');
});

t.test('an edit in place (same size, mtime put back) is found; only its directory is stat\'ed', async (t) => {
  const x = await armed(t);
  const st = (await import('node:fs')).statSync(x.path('lib/b.js'));
  writeFileSync(x.path('lib/b.js'), 'b = 2\n');
  utimesSync(x.path('lib/b.js'), st.atime, st.mtime);
  const after = await x.pass();
  t.not(after.hash, x.hash);
  t.equal(after.hash, await x.full());
  t.equal(after.watched, NOT_LIB, 'the files outside lib/ were not stat\'ed');
  t.equal((await x.pass()).watched, ALL, 'then lib/ is trusted again');
});

t.test('a chmod re-examines the directory (the mode hashed is the index\'s, so the hash stands)', async (t) => {
  const x = await armed(t);
  chmodSync(x.path('lib/c.txt'), 0o755);
  const after = await x.pass();
  t.equal(after.watched, NOT_LIB);
  t.equal(after.hash, await x.full());
});

t.test('a rename over a tracked file (an editor\'s save) is found; a rename away fails the hash', async (t) => {
  const x = await armed(t);
  writeFileSync(x.path('lib/b.js.tmp'), 'b = 3\n');
  renameSync(x.path('lib/b.js.tmp'), x.path('lib/b.js'));
  const after = await x.pass();
  t.not(after.hash, x.hash);
  t.equal(after.hash, await x.full());
  renameSync(x.path('lib/deep/d.js'), x.path('lib/deep/d.old'));
  await t.rejects(x.pass(), { code: 'E_WORKTREE' });
});

t.test('a deleted file fails the hash; put back, the tree hashes as before', async (t) => {
  const x = await armed(t);
  rmSync(x.path('a.js'));
  await t.rejects(x.pass(), { code: 'E_WORKTREE' });
  writeFileSync(x.path('a.js'), FILES['a.js']);
  t.equal((await x.pass()).hash, x.hash);
});

t.test('a new file: untracked it changes nothing, tracked it is listed and the watch re-armed', async (t) => {
  const x = await armed(t);
  writeFileSync(x.path('lib/deep/e.js'), 'e\n');
  const untracked = await x.pass();
  t.match(untracked, { hash: x.hash, watched: ALL - 1 }, 'lib/deep was looked at');
  x.repo.commit('e');
  const tracked = await x.pass();
  t.equal(tracked.files, ALL + 1);
  t.equal(tracked.hash, await x.full());
  t.equal(tracked.watched, 0, 'a new listing: armed again, every file stat\'ed');
  t.equal((await x.pass()).watched, ALL + 1);
});

t.test('a new subdirectory with a file: once tracked it is watched, and an edit in it is found', async (t) => {
  const x = await armed(t);
  mkdirSync(x.path('lib/sub'));
  writeFileSync(x.path('lib/sub/x.js'), 'x\n');
  t.equal((await x.pass()).hash, x.hash, 'untracked: the same hash');
  x.repo.commit('sub');
  const listed = await x.pass();
  t.equal(listed.hash, await x.full());
  t.equal(x.watch.size, 4, 'lib/sub is watched too');
  t.equal((await x.pass()).watched, ALL + 1);
  writeFileSync(x.path('lib/sub/x.js'), 'y\n');
  const edited = await x.pass();
  t.not(edited.hash, listed.hash);
  t.equal(edited.hash, await x.full());
  t.equal(edited.watched, ALL, 'only lib/sub was stat\'ed');
});

t.test('a file replaced by a symlink to the same bytes outside the tree fails the hash', async (t) => {
  const x = await armed(t);
  const outside = join(tempDir(t, 'upshift-outside-'), 'b.js');
  writeFileSync(outside, FILES['lib/b.js']);
  rmSync(x.path('lib/b.js'));
  symlinkSync(outside, x.path('lib/b.js'));
  await t.rejects(x.pass(), { code: 'E_WORKTREE', message: /symlink/ });
  await t.rejects(codeHash(x.repo.dir), { code: 'E_WORKTREE' }, 'as a full read does');
});

t.test('a directory replaced by a symlink: the watch drops, is not armed through it, and nothing outside is watched', async (t) => {
  const x = await armed(t);
  const outside = tempDir(t, 'upshift-outside-');
  renameSync(x.path('lib/deep'), join(outside, 'deep'));
  symlinkSync(join(outside, 'deep'), x.path('lib/deep'));
  const after = await x.pass();
  t.equal(after.watched, 0, 'every file stat\'ed');
  t.equal(x.watch.isArmed, false);
  t.match(x.watch.lastFailure, /lib\/deep is not a directory/);
  t.equal(kernelWatches(), x.base, 'no watch left, none on the directory outside');
  t.equal((await x.pass()).watched, 0, 'and so on, pass after pass');
});

t.test('a file with another hard link is stat\'ed every pass (a write there makes no event here)', async (t) => {
  const outside = join(tempDir(t, 'upshift-outside-'), 'b.js');
  const x = tree(t);
  linkSync(x.path('lib/b.js'), outside);
  await x.pass();
  const trusted = await x.pass();
  t.equal(trusted.watched, ALL - 1, 'all but the linked file');
  writeFileSync(outside, 'b = 9\n');
  const after = await x.pass();
  t.not(after.hash, trusted.hash);
  t.equal(after.hash, await x.full());
});

t.test('a pass that armed the watch and failed does not let the next one skip', async (t) => {
  const x = tree(t);
  await codeHash(x.repo.dir, { cache: x.cache }); // entries recorded before any watch
  const st = (await import('node:fs')).statSync(x.path('lib/b.js'));
  writeFileSync(x.path('lib/b.js'), 'b = 5\n'); // changed before the watch exists
  utimesSync(x.path('lib/b.js'), st.atime, st.mtime);
  rmSync(x.path('a.js'));
  await t.rejects(x.pass(), { code: 'E_WORKTREE' }, 'arms the watch, then fails on a.js');
  writeFileSync(x.path('a.js'), FILES['a.js']);
  const after = await x.pass();
  t.equal(after.watched, 0, 'the watch was not trusted: every file stat\'ed');
  t.equal(after.hash, await x.full(), 'so the change to lib/b.js is found');
});

t.test('a real inotify queue overflow drops the watch: the next pass stats every file', async (t) => {
  const x = await armed(t);
  const max = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'));
  // the loop is blocked while the events queue up: more than the kernel keeps
  const a = x.path('lib/b.js');
  const b = x.path('lib/c.txt');
  const when = new Date(Date.now() - 3_600_000);
  for (let i = 0; i < max + 100; i++) utimesSync(i % 2 ? a : b, when, when);
  await settle();
  t.equal(x.watch.isArmed, false);
  t.match(x.watch.lastFailure, /overflow/);
  t.equal(kernelWatches(), x.base);
  const after = await x.pass();
  t.equal(after.watched, 0);
  t.equal(after.hash, x.hash);
  t.equal((await x.pass()).watched, ALL, 'armed again by that pass');
});

t.test('a watcher error drops the watch', async (t) => {
  const opened: Array<ReturnType<typeof import('node:fs').watch>> = [];
  const fs = await import('node:fs');
  const watchFn = ((...args: Parameters<typeof fs.watch>) => {
    const w = fs.watch(...args);
    opened.push(w);
    return w;
  }) as typeof fs.watch;
  const x = await armed(t, { watchFn });
  opened[1]!.emit('error', new Error('EIO: the kernel said no'));
  t.equal(x.watch.isArmed, false);
  t.match(x.watch.lastFailure, /EIO/);
  t.equal(kernelWatches(), x.base, 'every watcher closed');
  t.equal((await x.pass()).watched, 0);
});

t.test('the watch limit (ENOSPC from fs.watch) or too many directories: not armed, the full stat walk', async (t) => {
  const fs = await import('node:fs');
  let calls = 0;
  const watchFn = ((...args: Parameters<typeof fs.watch>) => {
    // what the kernel answers past fs.inotify.max_user_watches
    if (++calls > 1) throw Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' });
    return fs.watch(...args);
  }) as typeof fs.watch;
  const x = tree(t, { watchFn });
  for (let i = 0; i < 3; i++) {
    const r = await x.pass();
    t.equal(r.watched, 0);
    t.equal(r.hash, await x.full());
  }
  t.match(x.watch.lastFailure, /ENOSPC/);
  t.equal(kernelWatches(), x.base, 'the one watch opened before the refusal was closed');
  const many = tree(t, { maxDirs: 2 });
  await many.pass();
  t.equal((await many.pass()).watched, 0);
  t.match(many.watch.lastFailure, /3 directories, more than 2/);
});

t.test('another tree closes the first tree\'s watchers', async (t) => {
  const x = await armed(t);
  const other = gitRepo(t);
  other.commit('v1', { 'one/two/three.js': '3\n' });
  await codeHash(other.dir, { cache: x.cache, watch: x.watch });
  t.equal(x.watch.size, 3, 'the root, one and one/two');
  t.equal(kernelWatches() - x.base, 3, 'and none of the first tree left');
  t.equal((await codeHash(other.dir, { cache: x.cache, watch: x.watch })).watched, 1);
});
