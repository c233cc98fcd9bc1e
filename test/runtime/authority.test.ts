import t from 'tap';
import { Authority, type Scheduler } from '../../src/runtime/authority.js';
import { testAuthority } from '../helpers/authority.js';

/** A scheduler that records what it was asked and lets the test fire ticks. */
function fakeScheduler() {
  const calls: string[] = [];
  let tick: (() => Promise<void>) | null = null;
  let stopped = false;
  const scheduler: Scheduler = (expression, fn) => {
    calls.push(expression);
    tick = fn;
    return { stop: () => void (stopped = true) };
  };
  return { scheduler, calls, fire: () => (tick as () => Promise<void>)(), stopped: () => stopped };
}

t.test('the authority polls at start, runs each new version once, and follows the schedule', async (t) => {
  const a = await testAuthority(t);
  a.repo.tag('v1.0.0');
  const sched = fakeScheduler();
  const authority = new Authority(a.service, sched.scheduler);
  authority.start();
  t.same(sched.calls, ['*/1 * * * *'], 'scheduled with the configured cron expression');
  await authority.tick(); // joins the start-up pass: catching up after downtime
  const runs = await a.service.deps.store.listRuns();
  t.same(runs.map((r) => [r.track, r.version, r.status]).sort(), [['production', 'v1.0.0', 'completed'], ['testnet', a.repo.head(), 'completed']]);

  await sched.fire();
  t.equal((await a.service.deps.store.listRuns()).length, 2, 'nothing new: no version runs twice');

  a.commitVersion({ version: 'v1.1.0', latencyMs: 10 });
  a.repo.tag('v1.0.1', { annotated: true });
  a.repo.tag('v1.1.0');
  await sched.fire();
  const latest = await a.service.deps.store.listRuns({ track: 'production' });
  t.same(latest.map((r) => r.version), ['v1.1.0', 'v1.0.0'], 'the newest tag runs; the superseded one is skipped');
  const skipped = (await a.service.deps.store.events()).filter((e) => e.kind === 'version.skipped');
  t.match(skipped.map((e) => e.data.version), ['v1.0.1']);
  t.equal((await a.service.deps.store.listRuns({ track: 'testnet' })).length, 2, 'the new main head ran on testnet');

  await authority.stop();
  t.ok(sched.stopped(), 'stop cancels the schedule');
});

t.test('an unfinished run left by a crash is resumed by the next pass', async (t) => {
  const a = await testAuthority(t);
  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  await a.service.orchestrator.drive(run.id, { until: 'stage' });
  t.equal((await a.service.deps.store.requireRun(run.id)).stage, 'testing');
  const authority = new Authority(a.service, fakeScheduler().scheduler);
  await authority.tick();
  t.equal((await a.service.deps.store.requireRun(run.id)).status, 'completed');
  t.equal((await a.service.deps.store.getStageResult(run.id, 'build'))?.attempts, 1, 'build was not run again');
});

t.test('a source that cannot be fetched is logged and retried on the next tick', async (t) => {
  const a = await testAuthority(t);
  const { renameSync } = await import('node:fs');
  renameSync(a.repo.dir, `${a.repo.dir}.moved`);
  t.teardown(() => renameSync(`${a.repo.dir}.moved`, a.repo.dir));
  const authority = new Authority(a.service, fakeScheduler().scheduler);
  await authority.tick();
  t.same(await a.service.deps.store.listRuns(), []);
  t.ok(a.logs.some((l) => l.msg === 'polling the source failed; will retry on the next tick' && l.code === 'E_GIT'));
});
