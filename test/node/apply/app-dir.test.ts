// The app dir is checked before anything is fetched into it: a symlinked, foreign-owned or
// group/other-writable app.dir, releases/, shared/ or floors/ is refused with E_UNSAFE_PATH
// naming the path and the fix, and nothing is fetched, switched or journaled.
import { chmodSync, chownSync, mkdirSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { applyBed, type Bed } from './apply-child.js';

/** Offer v1 to a node whose app dir `prepare` spoiled; expect E_UNSAFE_PATH and no effect. */
async function refused(t: Test, bed: Bed, path: RegExp, fix: RegExp): Promise<void> {
  const v1 = await bed.release('v1');
  await t.rejects(bed.engine().applyManifest(bed.manifest(v1, 1)), { code: 'E_UNSAFE_PATH', message: path, details: { fix } });
  t.equal(bed.current(), null, 'nothing switched');
  t.same(bed.tables().list(), [], 'no apply journaled');
  t.same(bed.restarts(), [], 'nothing restarted');
  t.match(await bed.store().events({ limit: 5 }), [{ kind: 'apply.refused', data: { code: 'E_UNSAFE_PATH' } }]);
}

t.test('a pre-made releases/ symlink is refused and its target stays empty', async (t) => {
  const bed = await applyBed(t);
  const elsewhere = join(bed.appDir, '..', 'elsewhere');
  mkdirSync(elsewhere);
  mkdirSync(bed.appDir);
  symlinkSync(elsewhere, join(bed.appDir, 'releases'));
  await refused(t, bed, /app\/releases is a symlink to .*elsewhere/, /replace it with a directory/);
  t.same(readdirSync(elsewhere), [], 'nothing was fetched into the link target');
});

for (const sub of ['shared', 'floors']) {
  t.test(`a ${sub}/ symlink is refused`, async (t) => {
    const bed = await applyBed(t);
    mkdirSync(join(bed.appDir, '..', 'elsewhere'));
    mkdirSync(bed.appDir);
    symlinkSync(join(bed.appDir, '..', 'elsewhere'), join(bed.appDir, sub));
    await refused(t, bed, new RegExp(`app/${sub} is a symlink`), /replace it/);
  });
}

t.test('app.dir itself as a symlink is refused', async (t) => {
  const bed = await applyBed(t);
  const real = join(bed.appDir, '..', 'real-app');
  mkdirSync(real);
  symlinkSync(real, bed.appDir);
  await refused(t, bed, /app is a symlink/, /replace it/);
  t.same(readdirSync(real), []);
});

t.test('a group- or world-writable app dir is refused', async (t) => {
  const bed = await applyBed(t);
  mkdirSync(bed.appDir);
  chmodSync(bed.appDir, 0o777);
  await refused(t, bed, /app has mode 0777: writable by group or others/, /chmod go-w .*\/app$/);
});

t.test('a group-writable releases/ is refused', async (t) => {
  const bed = await applyBed(t);
  mkdirSync(join(bed.appDir, 'releases'), { recursive: true });
  chmodSync(join(bed.appDir, 'releases'), 0o775);
  await refused(t, bed, /releases has mode 0775/, /chmod go-w/);
});

t.test('an app dir owned by another user is refused', { skip: process.getuid?.() !== 0 && 'needs root to chown' }, async (t) => {
  const bed = await applyBed(t);
  mkdirSync(bed.appDir);
  chownSync(bed.appDir, 12345, 12345);
  await refused(t, bed, /app is owned by uid 12345, not by this daemon's uid 0 or root/, /chown 0 /);
});

t.test('a current that is a directory, not the symlink upshift manages, is refused', async (t) => {
  const bed = await applyBed(t);
  mkdirSync(join(bed.appDir, 'current'), { recursive: true });
  const v1 = await bed.release('v1');
  await t.rejects(bed.engine().applyManifest(bed.manifest(v1, 1)), { code: 'E_UNSAFE_PATH', message: /current is not a symlink/ });
  t.same(bed.releases(), [], 'nothing fetched');
});

t.test('the directories upshift creates are 0755 even under a loose umask', async (t) => {
  const bed = await applyBed(t);
  const old = process.umask(0o002);
  t.teardown(() => process.umask(old));
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  for (const p of ['', 'releases', 'shared', 'floors']) {
    t.equal(statSync(join(bed.appDir, p)).mode & 0o777, 0o755, `app/${p}`);
  }
  t.ok(bed.currentValid());
});
