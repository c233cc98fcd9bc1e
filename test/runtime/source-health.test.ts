// Issue 9: a source the authority cannot fetch, or a tracked branch the source lacks, shows
// in /readyz, `upshift status`, /v1/status and /metrics after one poll, not only in a log line.
import t from 'tap';
import { renameSync } from 'node:fs';
import { Writable } from 'node:stream';
import { systemClock } from '../../src/adapters/clock.js';
import { createLogger } from '../../src/adapters/logger.js';
import { Authority, type Scheduler } from '../../src/runtime/authority.js';
import { createDaemon } from '../../src/runtime/daemon.js';
import { nodeStatus } from '../../src/runtime/status.js';
import { testAuthority, type TestAuthority } from '../helpers/authority.js';
import { runCli, diag } from '../helpers/cli.js';

const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const idle: Scheduler = () => ({ stop: () => {} });

/** One poll by the authority's loop, then what each front door says (the daemon is built, not started). */
async function afterOnePoll(t: Tap.Test, a: TestAuthority) {
  const authority = new Authority(a.service, idle);
  await authority.tick();
  await authority.stop();
  const { config, store } = a.service.deps;
  const daemon = await createDaemon({ config, openStore: () => store, log: quiet, clock: systemClock });
  t.teardown(() => daemon.server.close());
  const ready = await daemon.server.inject({ method: 'GET', url: '/readyz' });
  const status = (await daemon.server.inject({ method: 'GET', url: '/v1/status' })).json();
  const metrics = (await daemon.server.inject({ method: 'GET', url: '/metrics' })).body;
  return { ready, status, metrics, local: await nodeStatus(config, store) };
}

t.test('a repository made on master while the config tracks main: the missing branch shows everywhere', async (t) => {
  const a = await testAuthority(t, { branch: 'master' });
  a.repo.tag('v1.0.0');
  const { ready, status, metrics, local } = await afterOnePoll(t, a);
  const problem = `track testnet: branch "main" not found in ${a.repo.dir}`;

  t.equal(ready.statusCode, 503, 'not ready');
  t.equal(ready.json().checks.source, problem);
  t.equal(status.pipeline.source, problem, '/v1/status names the missing branch');
  t.equal(local.pipeline?.source, problem);
  t.ok(local.pipeline?.last_poll, 'the fetch itself worked');
  t.match(metrics, /upshift_track_branch_present\{track="testnet",node="authority",fleet="demo"\} 0/);
  t.match(metrics, /upshift_source_poll_success\{node="authority",fleet="demo"\} 1/);
  t.notMatch(metrics, /upshift_track_branch_present\{track="production"/, 'a tag track has no branch');
  t.match(metrics, /upshift_source_poll_age_seconds\{node="authority",fleet="demo"\} \d/, 'the daemon wires the poll age');

  const json = await runCli(['--config', a.ws.configPath, 'status', '--json']);
  t.equal(json.code, 0, 'status exits 0', diag(json));
  t.equal(json.json().pipeline.source, problem, '`status --json` names the missing branch');
  const human = await runCli(['--config', a.ws.configPath, 'status']);
  t.match(human.stdout, `source: ${problem}`, 'the human output prints the problem');
});

t.test('a source path that does not exist: the failed poll shows with its code', async (t) => {
  const a = await testAuthority(t);
  renameSync(a.repo.dir, `${a.repo.dir}.gone`);
  t.teardown(() => renameSync(`${a.repo.dir}.gone`, a.repo.dir));
  const { ready, status, metrics, local } = await afterOnePoll(t, a);
  const failed = new RegExp(`^polling ${a.repo.dir} failed \\(E_GIT\\): git fetch failed`);

  t.equal(ready.statusCode, 503, 'not ready');
  t.match(ready.json().checks.source, failed);
  t.match(status.pipeline.source, failed);
  t.equal(local.pipeline?.last_poll, null, 'never polled successfully');
  t.ok(local.pipeline?.source_polled_at, 'but the failed poll is dated');
  t.match(metrics, /upshift_source_poll_success\{node="authority",fleet="demo"\} 0/);
  t.notMatch(metrics, /upshift_track_branch_present\{/, 'a failed poll knows no branch');
});

t.test('a healthy source: ready, status ok, both metrics 1', async (t) => {
  const a = await testAuthority(t);
  a.repo.tag('v1.0.0');
  const { ready, status, metrics } = await afterOnePoll(t, a);
  t.equal(ready.json().checks.source, 'ok');
  t.equal(status.pipeline.source, 'ok');
  t.match(metrics, /upshift_source_poll_success\{node="authority",fleet="demo"\} 1/);
  t.match(metrics, /upshift_track_branch_present\{track="testnet",node="authority",fleet="demo"\} 1/);
});

t.test('the problem clears once the branch appears', async (t) => {
  const a = await testAuthority(t, { branch: 'master' });
  const first = await afterOnePoll(t, a);
  t.match(first.status.pipeline.source, /branch "main" not found/);
  a.repo.git('branch', 'main');
  const second = await afterOnePoll(t, a);
  t.equal(second.ready.json().checks.source, 'ok');
  t.equal(second.status.pipeline.source, 'ok');
});
