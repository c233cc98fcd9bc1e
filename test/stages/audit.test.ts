import t from 'tap';
import { testAuthority } from '../helpers/authority.js';

t.test('a change to a protected path fails the audit until approved; approval starts a retry that passes', async (t) => {
  const a = await testAuthority(t);
  const first = (await a.service.startOrFind(await a.service.resolve('main'))).run;
  t.equal((await a.service.orchestrator.drive(first.id)).status, 'completed');
  a.repo.commit('touch the stage hook', { 'stage.sh': `${a.repo.git('show', 'HEAD:stage.sh')}\n# changed\n` });
  const second = (await a.service.startOrFind(await a.service.resolve('main'))).run;
  const failed = await a.service.orchestrator.drive(second.id);
  t.equal(failed.status, 'failed');
  t.equal(failed.code, 'E_GATE');
  t.match(failed.reason, /protected paths changed since [0-9a-f]{12}.*: stage\.sh \(modified\); approve with `upshift pipeline approve r-/);
  const audit = await a.service.deps.store.getStageResult(second.id, 'audit');
  t.same((audit?.evidence.protected_paths as { changed: unknown }).changed, [{ path: 'stage.sh', change: 'modified' }]);

  const { run: retry, retry: isRetry } = await a.service.approve(second.id, 'ops@example', 'reviewed the hook change');
  t.ok(isRetry, 'a failed run is never reopened: a retry starts');
  t.equal(retry.commit, second.commit);
  t.equal((await a.service.deps.store.requireRun(second.id)).status, 'failed', 'the original run keeps its history');
  const done = await a.service.orchestrator.drive(retry.id);
  t.equal(done.status, 'completed', done.reason ?? '');
  t.match((await a.service.deps.store.getStageResult(retry.id, 'audit'))?.reason, /approved by ops@example: reviewed the hook change/);
});

t.test('an audit command that fails is reported along with every other audit problem', async (t) => {
  const a = await testAuthority(t, { authority: { audit: { commands: ['sh lint.sh', 'echo "sast: 1 finding" && exit 4'], protected_paths: [] } } });
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'failed');
  t.match(done.reason, /audit failed: `echo "sast: 1 finding" && exit 4` exited with 4/);
  const evidence = (await a.service.deps.store.getStageResult(run.id, 'audit'))?.evidence as { commands: Array<{ exit_code: number; tail: string }>; selftest: { ok: boolean } };
  t.same(evidence.commands.map((c) => c.exit_code), [0, 4]);
  t.match(evidence.commands[1]?.tail, /sast: 1 finding/);
  t.equal(evidence.selftest.ok, true, 'the sign/verify self-test still ran');
});

t.test('a signing key that disappeared fails the audit self-test with its code in the reason', async (t) => {
  const a = await testAuthority(t);
  const { rmSync } = await import('node:fs');
  rmSync(a.ws.keyPath);
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'failed');
  t.match(done.reason, /sign\/verify self-test failed: signing keys unusable: .*release\.key/);
});
