// Re-attestation with a stat cache (issue 9): unchanged files are not read again, a changed
// one is found even when its size and mtime were put back, and files too new to trust
// (git's racy-timestamp rule) are read again. The cache's clock is a fake one the test sets.
import t from 'tap';
import { readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { codeHash } from '../../../src/adapters/code-hash-files.js';
import { StatCache } from '../../../src/adapters/stat-cache.js';
import { gitRepo } from '../../helpers/gitdir.js';

const FILES = { 'a.js': 'console.log("a")\n', 'lib/b.js': 'export const b = 1;\n', 'lib/c.txt': 'ccc\n', 'run.sh': '#!/bin/sh\n' };

/** A committed tree whose files' timestamps lie an hour back, and a cache clock at "now". */
function tree(t: Tap.Test) {
  const repo = gitRepo(t);
  repo.commit('v1', FILES, { executable: ['run.sh'] });
  const old = new Date(Date.now() - 3_600_000);
  for (const path of Object.keys(FILES)) utimesSync(join(repo.dir, path), old, old);
  return repo;
}

t.test('an unchanged tree is hashed from the cache, to the same hash', async (t) => {
  const repo = tree(t);
  // ctime cannot be set back: the cache's clock is moved past it instead
  const cache = new StatCache({ now: () => Date.now() + 10_000 });
  const full = await codeHash(repo.dir);
  const first = await codeHash(repo.dir, { cache });
  t.equal(first.hash, full.hash);
  t.equal(first.cached, 0, 'an empty cache reads every file');
  const again = await codeHash(repo.dir, { cache });
  t.equal(again.hash, full.hash);
  t.equal(again.cached, 4, 'then no file is read again');
  t.equal(again.bytes, full.bytes, 'bytes still count the cached files');
});

t.test('a file changed in place, same size, mtime put back with utimes, is found (ctime moved)', async (t) => {
  const repo = tree(t);
  let now = Date.now() + 10_000;
  const cache = new StatCache({ now: () => now });
  const before = await codeHash(repo.dir, { cache });
  const path = join(repo.dir, 'lib/b.js');
  const st = statSync(path);
  const content = readFileSync(path, 'utf8');
  writeFileSync(path, content.replace('1', '2'));
  utimesSync(path, st.atime, st.mtime);
  t.equal(statSync(path).size, st.size, 'same size');
  t.equal(statSync(path).mtimeMs, st.mtimeMs, 'same mtime');
  now += 10_000; // the new ctime is settled too: only the key tells the change
  const after = await codeHash(repo.dir, { cache });
  t.not(after.hash, before.hash, 'the change shows in the hash');
  t.equal(after.hash, (await codeHash(repo.dir)).hash, 'the same hash as a full read');
  t.equal(after.cached, 3, 'only the changed file was read');
});

t.test('racy entries (timestamps not older than their recording) are read again', async (t) => {
  const repo = tree(t);
  const path = join(repo.dir, 'a.js');
  writeFileSync(path, 'console.log("A")\n'); // mtime and ctime: now
  const written = statSync(path).mtimeMs;
  // the cache records at the very time the file was written: it cannot know a later write
  // in the same timestamp tick would leave the key as it is
  let now = written;
  const cache = new StatCache({ now: () => now, slackMs: 3000 });
  await codeHash(repo.dir, { cache });
  const second = await codeHash(repo.dir, { cache });
  t.equal(second.cached, 0, 'every entry recorded within the slack of its timestamps is read again');
  now = written + 10_000;
  await codeHash(repo.dir, { cache }); // read again now, when the timestamps are old: settled
  const settled = await codeHash(repo.dir, { cache });
  t.equal(settled.cached, 4);
});

t.test('a racy entry is not used even when the stat still matches', async (t) => {
  const repo = tree(t);
  const path = join(repo.dir, 'a.js');
  const st = (await import('node:fs')).lstatSync(path, { bigint: true });
  const cache = new StatCache({ slackMs: 3000 });
  cache.use(repo.dir);
  cache.record('a.js', st, 'f'.repeat(64), st.mtimeNs); // recorded in the tick it was written
  t.equal(cache.lookup('a.js', st), null);
  cache.record('a.js', st, 'f'.repeat(64), st.ctimeNs + 4_000_000_000n);
  t.equal(cache.lookup('a.js', st), 'f'.repeat(64), 'recorded well after both timestamps: trusted');
});

t.test('another tree starts from an empty cache; untracked paths are dropped', async (t) => {
  const one = tree(t);
  const two = tree(t);
  const cache = new StatCache({ now: () => Date.now() + 10_000 });
  await codeHash(one.dir, { cache });
  t.equal(cache.size, 4);
  const other = await codeHash(two.dir, { cache });
  t.equal(other.cached, 0, 'nothing of the first tree is used for the second');
  two.git('rm', '-q', 'lib/c.txt');
  await codeHash(two.dir, { cache });
  t.equal(cache.size, 3);
});

t.test('a tracked file gone from disk still fails the hash with the cache', async (t) => {
  const repo = tree(t);
  const cache = new StatCache({ now: () => Date.now() + 10_000 });
  await codeHash(repo.dir, { cache });
  (await import('node:fs')).rmSync(join(repo.dir, 'lib/c.txt'));
  await t.rejects(codeHash(repo.dir, { cache }), { code: 'E_WORKTREE' });
});

t.test('the tracked set comes from the index again when it changes (a file added and committed)', async (t) => {
  const repo = tree(t);
  const cache = new StatCache({ now: () => Date.now() + 10_000 });
  const before = await codeHash(repo.dir, { cache });
  repo.commit('v2', { 'lib/d.txt': 'ddd\n' });
  const after = await codeHash(repo.dir, { cache });
  t.equal(after.files, before.files + 1, 'the new file is listed');
  t.equal(after.hash, (await codeHash(repo.dir)).hash);
});

t.test('after passes wholly from the cache, a new symlink target, a changed file or a lost one still show', async (t) => {
  const repo = tree(t);
  symlinkSync('a.js', join(repo.dir, 'link'));
  repo.git('add', 'link');
  repo.git('commit', '-q', '-m', 'link');
  let now = Date.now() + 10_000;
  const cache = new StatCache({ now: () => now });
  await codeHash(repo.dir, { cache });
  const still = await codeHash(repo.dir, { cache });
  t.equal((await codeHash(repo.dir, { cache })).hash, still.hash, 'unchanged: the same hash, pass after pass');
  t.equal(still.hash, (await codeHash(repo.dir)).hash);

  rmSync(join(repo.dir, 'link'));
  symlinkSync('lib/b.js', join(repo.dir, 'link'));
  const relinked = await codeHash(repo.dir, { cache });
  t.not(relinked.hash, still.hash, 'a symlink pointed elsewhere changes the hash');
  t.equal(relinked.hash, (await codeHash(repo.dir)).hash, 'as a full read says');
  t.equal(relinked.cached, 4, 'no regular file was read for it');

  await codeHash(repo.dir, { cache });
  const path = join(repo.dir, 'lib/c.txt');
  const st = statSync(path);
  writeFileSync(path, 'CCC\n');
  utimesSync(path, st.atime, st.mtime);
  now += 10_000;
  const changed = await codeHash(repo.dir, { cache });
  t.not(changed.hash, relinked.hash, 'a file changed in place changes the hash');
  t.equal(changed.hash, (await codeHash(repo.dir)).hash);

  await codeHash(repo.dir, { cache });
  rmSync(path);
  await t.rejects(codeHash(repo.dir, { cache }), { code: 'E_WORKTREE' }, 'a file gone still fails');
});
