// The rollback floor survives the database: deleted or restored from an old backup, the
// floor kept in app.dir/floors/ still refuses an older manifest that is otherwise valid.
import { copyFileSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { applyBed, type Bed } from './apply-child.js';

const dbFiles = (bed: Bed) => readdirSync(bed.stateDir).filter((n) => n.startsWith('upshift.db'));

/** Remove the node's database (and its WAL files), as a lost disk or a careless operator would. */
function deleteDb(bed: Bed): void {
  bed.closeStores();
  for (const n of dbFiles(bed)) rmSync(join(bed.stateDir, n));
}

const floorOnDisk = (bed: Bed) => JSON.parse(readFileSync(join(bed.appDir, 'floors', 'testnet.json'), 'utf8')) as Record<string, unknown>;

t.test('with the database deleted, an older still-valid manifest is refused and current stays', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  const v2 = await bed.release('v2');
  const env1 = bed.manifest(v1, 1);
  await bed.engine().applyManifest(env1);
  await bed.engine().applyManifest(bed.manifest(v2, 2));
  const v2Name = `v2-${v2.commit.slice(0, 12)}`;
  t.match(floorOnDisk(bed), { track: 'testnet', seq: 2, version: 'v2', commit: v2.commit, release: v2Name });

  deleteDb(bed);
  t.same(dbFiles(bed), [], 'no database left');
  const restarts = bed.restarts().length;
  await t.rejects(bed.engine().applyManifest(env1), { code: 'E_ROLLBACK', details: { seq: 1, floor: 2 }, message: /floors\/testnet\.json/ });
  t.equal(bed.current(), `releases/${v2Name}`, 'current is still v2');
  t.equal(bed.restarts().length, restarts, 'nothing restarted');
  t.same(bed.tables().list(), [], 'no apply journaled');
  t.match(await bed.store().events({ limit: 10 }), [{ kind: 'apply.refused', data: { code: 'E_ROLLBACK', seq: 1 } }]);

  // The manifest at the floor itself confirms what runs, and rebuilds the journal and the database floor.
  const again = await bed.engine().applyManifest(bed.manifest(v2, 2));
  t.match(again.apply, { state: 'confirmed', version: 'v2', reason: /already current/ });
  t.equal(await bed.store().floors.get('testnet'), 2);
  t.equal(bed.restarts().length, restarts, 'still no restart');
});

t.test('a database restored from an old backup cannot lower the floor', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  const v2 = await bed.release('v2');
  const v3 = await bed.release('v3');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const backup = join(bed.appDir, '..', 'backup');
  bed.closeStores(); // a consistent copy: everything checkpointed into the main file
  copyFileSync(join(bed.stateDir, 'upshift.db'), backup);
  await bed.engine().applyManifest(bed.manifest(v2, 2));
  await bed.engine().applyManifest(bed.manifest(v3, 3));

  deleteDb(bed);
  copyFileSync(backup, join(bed.stateDir, 'upshift.db'));
  t.equal(await bed.store().floors.get('testnet'), 1, 'the restored database floor is the old one');
  await t.rejects(bed.engine().applyManifest(bed.manifest(v2, 2)), { code: 'E_ROLLBACK', details: { floor: 3 } });
  t.equal(bed.current(), `releases/v3-${v3.commit.slice(0, 12)}`);
});

t.test('a signed rollback manifest (higher seq) still goes back, and raises both floors', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  const v2 = await bed.release('v2');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  await bed.engine().applyManifest(bed.manifest(v2, 2));
  deleteDb(bed);
  const out = await bed.engine().applyManifest(bed.manifest(v1, 3, { kind: 'rollback' }));
  t.match(out.apply, { kind: 'rollback', state: 'confirmed', version: 'v1' });
  t.equal(bed.current(), `releases/v1-${v1.commit.slice(0, 12)}`);
  t.equal(await bed.store().floors.get('testnet'), 3);
  t.match(floorOnDisk(bed), { seq: 3, version: 'v1', commit: v1.commit });
  await t.rejects(bed.engine().applyManifest(bed.manifest(v2, 2)), { code: 'E_ROLLBACK' });
});

t.test('a floor that was never confirmed is not written, and an unreadable one refuses everything', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  const v2 = await bed.release('v2', { healthy: false });
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  await t.rejects(bed.engine().applyManifest(bed.manifest(v2, 2)), { code: 'E_HEALTH' });
  t.match(floorOnDisk(bed), { seq: 1 }, 'a release rolled back does not raise the floor on disk');

  writeFileSync(join(bed.appDir, 'floors', 'testnet.json'), '{"seq": ');
  const v3 = await bed.release('v3');
  await t.rejects(bed.engine().applyManifest(bed.manifest(v3, 3)), { code: 'E_STATE_CORRUPT', message: /floors\/testnet\.json/ });
  t.equal(bed.current(), `releases/v1-${v1.commit.slice(0, 12)}`, 'fails closed: nothing applied');
});

t.test('a node whose floor predates the file gets it written at the next reconcile', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  rmSync(join(bed.appDir, 'floors', 'testnet.json'));
  await bed.engine().reconcile();
  t.match(floorOnDisk(bed), { seq: 1, version: 'v1' });
  t.same(readdirSync(join(bed.appDir, 'floors')), ['testnet.json']);
});

t.test('a restored journal with an apply still open below the floor is abandoned, not finished', async (t) => {
  const bed = await applyBed(t);
  // The restart of a rollback takes a moment, so the journal can be copied while it is rolling_back.
  const log = join(bed.appDir, '..', 'restarts.log');
  bed.app.restart = `if [ "$UPSHIFT_REASON" = rollback ]; then sleep 1; fi; echo "$UPSHIFT_REASON $UPSHIFT_RELEASE" >> ${log}`;
  const v1 = await bed.release('v1');
  const v2 = await bed.release('v2', { healthy: false });
  const v3 = await bed.release('v3');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const applying = bed.engine().applyManifest(bed.manifest(v2, 2));
  const tables = bed.tables();
  while (tables.open()?.state !== 'rolling_back') await new Promise((r) => setTimeout(r, 20));
  const backup = join(bed.appDir, '..', 'backup.db');
  bed.store().db.exec(`VACUUM INTO '${backup}'`);
  await t.rejects(applying, { code: 'E_HEALTH' });
  await bed.engine().applyManifest(bed.manifest(v3, 3));
  const v3Name = `v3-${v3.commit.slice(0, 12)}`;

  deleteDb(bed);
  copyFileSync(backup, join(bed.stateDir, 'upshift.db'));
  t.match(bed.tables().open(), { state: 'rolling_back', seq: 2 }, 'the restored journal says v2 is rolling back to v1');
  const restarts = bed.restarts().length;
  const out = await bed.engine().reconcile();
  t.match(out, { from: 'rolling_back', to: 'abandoned' });
  t.equal(bed.current(), `releases/${v3Name}`, 'current stays on v3');
  t.equal(bed.restarts().length, restarts, 'nothing restarted');
});
