// The tree watch on a tree without git metadata (an extracted bundle), where every file on
// disk is hashed with the mode it has there: the walk is kept between passes, and each kind of
// change (edit, chmod, rename, new file, deleted file, new subdirectory, file turned symlink,
// directory removed) is found by the next pass, made right before it with no await between.
import t, { type Test } from 'tap';
import { chmodSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { codeHash } from '../../../src/adapters/code-hash-files.js';
import { StatCache } from '../../../src/adapters/stat-cache.js';
import { TreeWatch } from '../../../src/adapters/tree-watch.js';
import { kernelWatches } from '../../helpers/inotify.js';
import { tempDir } from '../../helpers/tmp.js';

const FILES = { 'a.js': 'a\n', 'lib/b.js': 'b = 1\n', 'lib/c.txt': 'ccc\n', 'lib/deep/d.js': 'd\n' };
const ALL = 4;

async function armed(t: Test) {
  const dir = tempDir(t, 'upshift-bundle-');
  for (const [p, content] of Object.entries(FILES)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
  const base = kernelWatches();
  const cache = new StatCache({ now: () => Date.now() + 10_000 });
  const watch = new TreeWatch();
  t.teardown(() => watch.close());
  const pass = () => codeHash(dir, { cache, watch });
  t.equal((await pass()).watched, 0, 'the first pass walks and stats everything');
  const second = await pass();
  t.equal(second.watched, ALL, 'the next one stats nothing');
  t.equal(kernelWatches() - base, 3, 'the root, lib and lib/deep are watched');
  return { dir, watch, base, hash: second.hash, pass, path: (p: string) => join(dir, p), full: async () => (await codeHash(dir)).hash };
}

/** A pass that found the change: another hash, the one a full read gives, `watched` files not stat'ed. */
async function found(t: Test, x: Awaited<ReturnType<typeof armed>>, watched: number, why: string) {
  const r = await x.pass();
  t.not(r.hash, x.hash, `${why}: the hash changed`);
  t.equal(r.hash, await x.full(), `${why}: as a full read says`);
  t.equal(r.watched, watched, `${why}: ${watched} files taken on the watch's word`);
  return r;
}

t.test('an edit, a chmod, a rename: each found, only the directory touched is read again', async (t) => {
  const x = await armed(t);
  const st = (await import('node:fs')).statSync(x.path('lib/b.js'));
  writeFileSync(x.path('lib/b.js'), 'b = 2\n');
  utimesSync(x.path('lib/b.js'), st.atime, st.mtime);
  await found(t, x, ALL - 2, 'edit');
  x.hash = (await x.pass()).hash;
  chmodSync(x.path('lib/deep/d.js'), 0o755);
  await found(t, x, ALL - 1, 'chmod (the mode on disk is hashed here)');
  x.hash = (await x.pass()).hash;
  renameSync(x.path('a.js'), x.path('a2.js'));
  await found(t, x, ALL - 1, 'rename');
});

t.test('a new file and a deleted file are found', async (t) => {
  const x = await armed(t);
  writeFileSync(x.path('lib/deep/e.js'), 'e\n');
  const r = await found(t, x, ALL - 1, 'new file');
  t.equal(r.files, ALL + 1);
  x.hash = (await x.pass()).hash;
  rmSync(x.path('lib/c.txt'));
  const gone = await found(t, x, ALL - 1, 'deleted file');
  t.equal(gone.files, ALL);
});

t.test('a new subdirectory with a file is walked and watched; an edit in it is found next', async (t) => {
  const x = await armed(t);
  mkdirSync(x.path('lib/sub'));
  writeFileSync(x.path('lib/sub/x.js'), 'x\n');
  await found(t, x, ALL - 2, 'new subdirectory');
  t.equal(kernelWatches() - x.base, 4, 'lib/sub is watched');
  x.hash = (await x.pass()).hash;
  t.equal((await x.pass()).watched, ALL + 1, 'then trusted like the rest');
  writeFileSync(x.path('lib/sub/x.js'), 'y\n');
  await found(t, x, ALL, 'edit in the new subdirectory');
});

t.test('a file replaced by a symlink is hashed as a symlink (its target, not followed)', async (t) => {
  const x = await armed(t);
  const outside = join(tempDir(t, 'upshift-outside-'), 'b.js');
  writeFileSync(outside, FILES['lib/b.js']);
  rmSync(x.path('lib/b.js'));
  symlinkSync(outside, x.path('lib/b.js'));
  await found(t, x, ALL - 2, 'file turned symlink');
});

t.test('a directory removed drops the watch: the tree is walked again and the watch re-armed', async (t) => {
  const x = await armed(t);
  rmSync(x.path('lib/deep'), { recursive: true });
  const r = await found(t, x, 0, 'directory removed');
  t.equal(r.files, ALL - 1);
  t.equal(kernelWatches() - x.base, 2, 'the root and lib: the removed one\'s watch is gone');
  t.equal((await x.pass()).watched, ALL - 1);
  x.watch.close();
  t.equal(kernelWatches(), x.base);
  t.same(readdirSync(x.path('lib')).sort(), ['b.js', 'c.txt']);
});
