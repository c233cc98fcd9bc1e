// The apply engine end to end on one node: real git, real app dir, real HTTP health. A good
// release, health rollbacks, fetch and code-hash refusals, a signed rollback, boot; refusals of
// manifests, git config and failing hooks are apply-refused.test.ts.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { applyBed } from './apply-child.js';

const appliesCount = (bed: Awaited<ReturnType<typeof applyBed>>) => bed.tables().list().length;

t.test('a good release is fetched, hooked, switched and confirmed, and the floor raised', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  const out = await bed.engine().applyManifest(bed.manifest(v1, 1));
  const name = `v1-${v1.commit.slice(0, 12)}`;
  t.equal(out.apply?.state, 'confirmed');
  t.equal(bed.current(), `releases/${name}`);
  t.ok(bed.currentValid());
  t.ok(existsSync(join(bed.appDir, 'shared')), 'shared/ exists beside releases/');
  t.same(bed.hooks(), [`install ${name} v1`, `migrate ${name}`], 'install then migrate ran in the new release dir');
  t.same(bed.restarts(), [`apply ${name}`]);
  t.equal(await bed.store().floors.get('testnet'), 1);
  const steps = bed.tables().steps(out.apply!.id).map((s) => s.state);
  t.same(steps, ['verified', 'staged', 'switching', 'probation', 'probation', 'confirmed'], 'every step journaled');
  const status = await bed.engine().applyStatus();
  t.match(status.testnet, { seq: 1, version: 'v1', commit: v1.commit, code_hash: v1.codeHash, state: 'confirmed' });
  t.equal(readFileSync(join(bed.appDir, 'current', '.git', 'HEAD'), 'utf8').trim(), v1.commit, 'HEAD is the pinned commit, detached');

  const again = await bed.engine().applyManifest(bed.manifest(v1, 1));
  t.equal(again.apply, null, 're-delivery of the floor manifest is a no-op');
});

t.test('a release whose health fails is rolled back, marked bad and not retried', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const v2 = await bed.release('v2', { healthy: false });
  const env2 = bed.manifest(v2, 2);
  await t.rejects(bed.engine().applyManifest(env2), { code: 'E_HEALTH', details: { state: 'rolled_back' } });
  const v1Name = `v1-${v1.commit.slice(0, 12)}`;
  t.equal(bed.current(), `releases/${v1Name}`, 'current is back on v1');
  t.ok(bed.currentValid());
  t.same(bed.restarts(), [`apply ${v1Name}`, `apply v2-${v2.commit.slice(0, 12)}`, `rollback ${v1Name}`]);
  t.same(bed.releases(), [v1Name], 'the failed release dir is gone');
  t.equal(await bed.store().floors.get('testnet'), 1, 'the floor is not raised (nor lowered)');
  t.match(bed.tables().badVersions(), [{ track: 'testnet', version: 'v2', commit: v2.commit, reason: /healthy_deadline/ }]);
  t.match((await bed.engine().applyStatus()).testnet, { version: 'v2', state: 'rolled_back', reason: /healthy_deadline/ });

  const before = appliesCount(bed);
  await t.rejects(bed.engine().applyManifest(env2), { code: 'E_BAD_VERSION' }, 'the same manifest again is refused');
  t.equal(appliesCount(bed), before, 'no new apply journaled');
  t.same(bed.restarts().length, 3, 'nothing restarted');
});

t.test('a release that turns unhealthy within min_healthy is rolled back', async (t) => {
  const bed = await applyBed(t, { app: { min_healthy: '2s' } });
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const v2 = await bed.release('v2');
  const applying = bed.engine().applyManifest(bed.manifest(v2, 2));
  // Once v2 is on probation and healthy, break its health from outside, as a crashing app would.
  const tables = bed.tables();
  while (tables.open()?.healthySince == null) await new Promise((r) => setTimeout(r, 20));
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(bed.appDir, 'current', 'health.txt'), 'broken');
  await t.rejects(applying, { code: 'E_HEALTH', message: /min_healthy/ });
  t.equal(bed.current(), `releases/v1-${v1.commit.slice(0, 12)}`);
});

t.test('a pinned commit missing from the remote is E_FETCH, and nothing is switched', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const ghost = { version: 'v9', commit: 'f'.repeat(40), codeHash: v1.codeHash };
  await t.rejects(bed.engine().applyManifest(bed.manifest(ghost, 2)), { code: 'E_FETCH', details: { state: 'failed' } });
  t.equal(bed.current(), `releases/v1-${v1.commit.slice(0, 12)}`);
  t.same(bed.releases(), [`v1-${v1.commit.slice(0, 12)}`], 'no release dir left behind');
  t.equal(bed.restarts().length, 1);
  t.same(bed.tables().badVersions(), [], 'a fetch failure is retryable: not marked bad');
});

t.test('a checkout whose code hash differs from the signed one is refused before the switch', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const v2 = await bed.release('v2');
  await t.rejects(bed.engine().applyManifest(bed.manifest({ ...v2, codeHash: 'e'.repeat(64) }, 2)), { code: 'E_BAD_VERSION', message: /code hash/ });
  t.equal(bed.current(), `releases/v1-${v1.commit.slice(0, 12)}`);
  t.equal(bed.releases().length, 1);
  t.equal(bed.hooks().length, 2, 'no hook ran for the refused release');
  t.equal(await bed.store().floors.get('testnet'), 1);
});

t.test('a signed rollback manifest (higher seq, older commit) switches back and raises the floor', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  const v2 = await bed.release('v2');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  await bed.engine().applyManifest(bed.manifest(v2, 2));
  const out = await bed.engine().applyManifest(bed.manifest(v1, 3, { kind: 'rollback' }));
  t.match(out.apply, { kind: 'rollback', state: 'confirmed', seq: 3, version: 'v1', previousDir: `v2-${v2.commit.slice(0, 12)}` });
  t.equal(bed.current(), `releases/v1-${v1.commit.slice(0, 12)}`);
  t.equal(await bed.store().floors.get('testnet'), 3);
  await t.rejects(bed.engine().applyManifest(bed.manifest(v2, 2)), { code: 'E_ROLLBACK' }, 'the older v2 manifest cannot come back');
});

t.test('a manifest pinning the release already current is confirmed without a restart', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const out = await bed.engine().applyManifest(bed.manifest(v1, 2, { kind: 'rollback' }));
  t.match(out.apply, { state: 'confirmed', reason: /already current/ });
  t.equal(bed.restarts().length, 1);
  t.equal(await bed.store().floors.get('testnet'), 2);
  // A tampered running checkout does not get confirmed by a new manifest.
  const { appendFileSync } = await import('node:fs');
  appendFileSync(join(bed.appDir, 'current', 'app.txt'), 'tampered');
  await t.rejects(bed.engine().applyManifest(bed.manifest(v1, 3, { kind: 'rollback' })), { code: 'E_BAD_VERSION', message: /code hash/ });
  t.ok(bed.currentValid(), 'and current is left alone');
});

t.test('at start, a current release that does not answer is started with the restart command (reason boot)', async (t) => {
  const bed = await applyBed(t);
  t.same(await bed.engine().startIfDown(), { action: 'none', reason: 'no release is current yet' });
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const name = `v1-${v1.commit.slice(0, 12)}`;
  t.match(await bed.engine().startIfDown(), { action: 'none' }, 'an app that answers (its own unit started it) is left alone');
  t.same(bed.restarts(), [`apply ${name}`]);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(bed.appDir, 'current', 'health.txt'), 'broken'); // as after a reboot: nothing answers
  t.match(await bed.engine().startIfDown(), { action: 'started', release: name });
  t.same(bed.restarts(), [`apply ${name}`, `boot ${name}`], 'restart ran once, in the app dir, told why');
  t.match((await bed.store().events({ limit: 100 })).filter((e) => e.kind === 'app.started_at_boot'), [{ data: { release: name } }]);
  t.equal(bed.current(), `releases/${name}`, 'nothing switched');
});
