// The pipeline services on a real authority: a real git repo, real SQLite, real commands.
import t from 'tap';
import {
  advanceRun, approveRun, driveRun, pipelineStatus, rollbackRun, runHistory, showRun, startRun,
} from '../../src/services/pipeline.js';
import { testAuthority } from '../helpers/authority.js';

t.test('startRun creates a run once and says so when the version already has one', async (t) => {
  const a = await testAuthority(t);
  const first = await startRun(a.service, { ref: 'main' });
  t.equal(first.evidence.created, true);
  t.match(first.reason, /^created run r-/);
  const again = await startRun(a.service, { ref: 'main' });
  t.equal(again.evidence.created, false);
  t.equal(again.evidence.run.id, first.evidence.run.id);
  t.match(again.reason, /already has run .*a version runs once/);
});

t.test('startRun refuses an unknown ref and writes nothing', async (t) => {
  const a = await testAuthority(t);
  await t.rejects(startRun(a.service, { ref: 'no-such-branch' }), { code: 'E_UNKNOWN_REF' });
  t.same(await a.service.deps.store.listRuns(), []);
});

t.test('advanceRun drives one stage, refuses an ended run, and with nothing unfinished says so', async (t) => {
  const a = await testAuthority(t);
  const { run } = (await startRun(a.service, { ref: 'main' })).evidence;
  const stepped = await advanceRun(a.service, { runId: run.id, wait: 'stage' });
  t.equal(stepped.evidence.run.stage, 'testing', 'build ran, the run waits at test');
  t.equal(stepped.evidence.waiting?.state, 'testing');
  const done = await driveRun(a.service, { runId: run.id, until: 'terminal' });
  t.equal(done.evidence.finished, true);
  t.equal(done.evidence.run.status, 'completed', done.reason);
  await t.rejects(advanceRun(a.service, { runId: run.id, wait: 'stage' }), { code: 'E_RUN_TERMINAL' });
  await t.rejects(advanceRun(a.service, { wait: 'none' }), { code: 'E_RUN_NOT_FOUND' });
});

t.test('advanceRun without waiting returns at once and drives in the background', async (t) => {
  const a = await testAuthority(t);
  const { run } = (await startRun(a.service, { ref: 'main' })).evidence;
  const r = await advanceRun(a.service, { runId: run.id, wait: 'none' });
  t.equal(r.evidence.driver, 'background');
  t.match(r.reason, /now being driven in the background/);
  // the background driver finishes the run by itself
  for (let i = 0; i < 600 && (await a.service.deps.store.requireRun(run.id)).status !== 'completed'; i++) await new Promise((ok) => setTimeout(ok, 100));
  t.equal((await a.service.deps.store.requireRun(run.id)).status, 'completed');
});

t.test('rollbackRun stops an unfinished run, records who and why, and refuses an ended one', async (t) => {
  const a = await testAuthority(t);
  const { run } = (await startRun(a.service, { ref: 'main' })).evidence;
  await t.rejects(rollbackRun(a.service, { runId: run.id, reason: '  ', by: 'cli:test' }), { code: 'E_USAGE' }, 'a reason is required');
  const r = await rollbackRun(a.service, { runId: run.id, reason: 'wrong commit', by: 'cli:test' });
  t.equal(r.evidence.queued, false);
  t.not(r.evidence.run.status, 'completed');
  t.match(r.reason, /stopped/);
  const events = await a.service.deps.store.events({ runId: run.id });
  t.ok(events.some((e) => JSON.stringify(e.data).includes('wrong commit')), 'the reason is in the audit trail');
  await t.rejects(rollbackRun(a.service, { runId: run.id, reason: 'again', by: 'cli:test' }), { code: 'E_RUN_TERMINAL' });
});

t.test('approveRun needs a reason and refuses a completed run', async (t) => {
  const a = await testAuthority(t);
  const { run } = (await startRun(a.service, { ref: 'main' })).evidence;
  await t.rejects(() => approveRun(a.service, { runId: run.id, reason: '', by: 'cli:test' }), { code: 'E_USAGE' });
  const ok = await approveRun(a.service, { runId: run.id, reason: 'paths reviewed', by: 'cli:test' });
  t.equal(ok.evidence.retry, false);
  t.match(await a.service.deps.store.approvals.get(run.id), { by: 'cli:test', reason: 'paths reviewed' });
  await driveRun(a.service, { runId: run.id, until: 'terminal' });
  await t.rejects(() => approveRun(a.service, { runId: run.id, reason: 'late', by: 'cli:test' }), { code: 'E_RUN_TERMINAL' });
});

t.test('show, history and status read what the runs recorded', async (t) => {
  const a = await testAuthority(t);
  const { store } = a.service.deps;
  await t.rejects(() => showRun(store, 'r-missing'), { code: 'E_RUN_NOT_FOUND' });
  await t.rejects(() => runHistory(store, { limit: 0 }), { code: 'E_USAGE' });
  t.equal((await runHistory(store, { limit: 5 })).reason, 'no runs yet');
  const { run } = (await startRun(a.service, { ref: 'main' })).evidence;
  await driveRun(a.service, { runId: run.id, until: 'terminal' });
  const shown = (await showRun(store, run.id)).evidence;
  t.equal(shown.stages.length, 7);
  t.match(shown.manifests, [{ purpose: 'release', signed: true }]);
  t.equal(shown.waiting, null, 'an ended run waits for nothing');
  t.same((await runHistory(store, { limit: 5 })).evidence.runs.map((r) => r.id), [run.id]);
  const status = (await pipelineStatus(store)).evidence;
  t.same(status.unfinished, []);
  t.same(status.latest.map((r) => r.id), [run.id], 'one latest run per track');
});
