// With ota.publish.dir set, the authority's pass publishes the feed after its runs reach
// DEPLOY's end: a completed release appears in the feed without anyone running `ota publish`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Writable } from 'node:stream';
import { systemClock } from '../../src/adapters/clock.js';
import { createLogger } from '../../src/adapters/logger.js';
import { Authority, type Scheduler } from '../../src/runtime/authority.js';
import { createDaemon } from '../../src/runtime/daemon.js';
import { testAuthority } from '../helpers/authority.js';
import { diag, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const noSchedule: Scheduler = () => ({ stop: () => {} });
const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

t.test('the authority publishes the OTA feed after a pass when ota.publish.dir is set', async (t) => {
  const a = await testAuthority(t);
  a.repo.tag('v1.0.0');
  const dir = tempDir(t, 'upshift-feed-');
  a.service.deps.config.ota.publish.dir = dir;
  const authority = new Authority(a.service, noSchedule);
  await authority.tick();
  const testnet = JSON.parse(readFileSync(join(dir, 'testnet', 'releases.json'), 'utf8'));
  t.match(testnet.map((r: { tag_name: string }) => r.tag_name), ['testnet-1']);
  const production = JSON.parse(readFileSync(join(dir, 'production', 'releases.json'), 'utf8'));
  t.match(production.map((r: { tag_name: string }) => r.tag_name), ['v1.0.0'], 'a tag track keeps its semver tag');
  t.ok(a.logs.some((l) => l.module === 'ota' && /published/.test(String(l.msg))), 'logged what was published');
  await authority.stop();

  // the daemon serves it read-only at /v1/ota/ (built, not started)
  const daemon = await createDaemon({ config: a.service.deps.config, openStore: () => a.service.deps.store, log: quiet, clock: systemClock });
  t.teardown(() => daemon.server.close());
  const served = await daemon.server.inject({ method: 'GET', url: '/v1/ota/testnet/releases.json' });
  t.equal(served.statusCode, 200);
  t.equal(served.body, readFileSync(join(dir, 'testnet', 'releases.json'), 'utf8'), '/v1/ota/testnet/releases.json is the published feed');
  t.equal((await daemon.server.inject({ method: 'POST', url: '/v1/ota/testnet/releases.json' })).statusCode, 404, 'read-only');

  // the same by hand, from the built CLI
  const out = tempDir(t, 'upshift-feed-');
  const cli = await runCli(['--config', a.ws.configPath, 'ota', 'publish', '--out', out, '--json']);
  t.equal(cli.code, 0, diag(cli));
  t.match(cli.json(), { ok: true, tracks: [{ track: 'testnet', releases: [{ tag: 'testnet-1', added: true }] }, { track: 'production' }] });
  t.equal(readFileSync(join(out, 'testnet', 'testnet-1', 'manifest.json'), 'utf8'), readFileSync(join(dir, 'testnet', 'testnet-1', 'manifest.json'), 'utf8'));
});
