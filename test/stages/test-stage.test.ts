import t from 'tap';
import { testAuthority } from '../helpers/authority.js';

const run = async (t: Tap.Test, test: Record<string, unknown>) => {
  const a = await testAuthority(t, { authority: { test: { ...test } } });
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  return { a, done, result: await a.service.deps.store.getStageResult(run.id, 'test') };
};

t.test('a test command that hangs is killed at its timeout and fails with E_TIMEOUT', async (t) => {
  const { done, result } = await run(t, { command: 'echo started; sleep 60', timeout: '1s' });
  t.equal(done.status, 'failed');
  t.equal(done.code, 'E_TIMEOUT');
  t.match(result?.reason, /timed out after 1s and was killed/);
  t.match(result?.evidence.tail, /started/);
});

t.test('a suite that reports nothing fails with that reason, never as 0 of 0', async (t) => {
  const { done } = await run(t, { command: 'echo "all good, trust me"' });
  t.equal(done.status, 'failed');
  t.match(done.reason, /reported no results/);
});

t.test('a JUnit report file written by the suite is read from the work tree', async (t) => {
  const xml = '<testsuites><testsuite name="s"><testcase classname="app" name="ok1"/><testcase classname="app" name="broken"><failure message="x"/></testcase></testsuite></testsuites>';
  const { done, result } = await run(t, { command: `printf '%s' '${xml}' > report.xml`, report: 'report.xml', min_pass_rate: 0.5 });
  t.equal(done.status, 'completed', done.reason ?? '');
  t.same(result?.evidence.report, { format: 'junit', passed: 1, failed: 1, skipped: 0, total: 2 });
  t.same(result?.evidence.failing_tests, ['app.broken']);
});

t.test('a summary line "N passed, N failed" is enough to gate on', async (t) => {
  const { done, result } = await run(t, { command: 'echo "Ran suite"; echo "97 passed, 3 failed"; exit 1', min_pass_rate: 0.95 });
  t.equal(done.status, 'completed', 'a non-zero exit with a passing rate still passes the gate');
  t.equal(result?.evidence.pass_rate, 0.97);
});

t.test('a report path outside the work tree is not read', async (t) => {
  const { done } = await run(t, { command: 'true', report: '../../etc/passwd' });
  t.equal(done.status, 'failed');
  t.match(done.reason, /reported no results/);
});
