// A release never moves a tag track backwards on the daemon's path either: the poll never
// starts an older tag, and a run of an older version left pending while a newer one was
// released fails at SIGN (the last check) before any manifest exists for it.
import t from 'tap';
import { Authority, type Scheduler } from '../../src/runtime/authority.js';
import { testAuthority } from '../helpers/authority.js';

const manual: Scheduler = () => ({ stop: () => undefined });

t.test('a pending run of an older version fails at SIGN with E_DOWNGRADE once a newer one is released', async (t) => {
  const a = await testAuthority(t);
  const { store } = a.service.deps;
  a.repo.tag('v2.0.0');
  const older = (await a.service.startOrFind(await a.service.resolve('v2.0.0'))).run; // pending: nobody drives it yet
  a.commitVersion({ version: 'v10.0.0', latencyMs: 10 });
  a.repo.tag('v10.0.0');
  const newer = (await a.service.startOrFind(await a.service.resolve('v10.0.0'))).run;
  t.equal((await a.service.orchestrator.drive(newer.id)).status, 'completed', 'v10.0.0 released first');

  const authority = new Authority(a.service, manual);
  await authority.tick(); // the daemon's pass drives every unfinished run
  const done = await store.requireRun(older.id);
  t.equal(done.status, 'failed');
  t.equal(done.stage, 'failed');
  t.equal(done.code, 'E_DOWNGRADE');
  t.match(done.reason, /v2\.0\.0 is older than v10\.0\.0, the newest version released on production/);
  t.equal((await store.getStageResult(older.id, 'sign'))?.outcome, 'failed');
  t.same((await store.manifests.list('production')).filter((m) => m.runId === older.id), [], 'no seq was reserved for it');
  t.same([...new Set((await store.manifests.list('production')).map((m) => m.version))], ['v10.0.0'], 'the track holds only v10.0.0');
});

t.test('the poll never starts a tag older than the newest release, and a start of one is refused', async (t) => {
  const a = await testAuthority(t);
  const { store } = a.service.deps;
  const old = a.repo.head();
  a.commitVersion({ version: 'v10.0.0', latencyMs: 10 });
  a.repo.tag('v10.0.0');
  const authority = new Authority(a.service, manual);
  await authority.tick();
  t.equal((await store.findRun('production', 'v10.0.0'))?.status, 'completed');
  a.repo.tag('v2.0.1', { ref: old }); // a backport tagged after the newer release
  await authority.tick();
  t.equal(await store.findRun('production', 'v2.0.1'), null, 'the daemon did not run it');
  await t.rejects(() => a.service.startOrFind({ track: 'production', version: 'v2.0.1', ref: 'v2.0.1', commit: old }), { code: 'E_DOWNGRADE' });
  t.equal(await store.findRun('production', 'v2.0.1'), null);
});
