// With ota.publish.dir set, the authority's pass publishes the feed after its runs reach
// DEPLOY's end: a completed release appears in the feed without anyone running `ota publish`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Authority, type Scheduler } from '../../src/runtime/authority.js';
import { testAuthority } from '../helpers/authority.js';
import { diag, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const noSchedule: Scheduler = () => ({ stop: () => {} });

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

  // the same by hand, from the built CLI
  const out = tempDir(t, 'upshift-feed-');
  const cli = await runCli(['--config', a.ws.configPath, 'ota', 'publish', '--out', out, '--json']);
  t.equal(cli.code, 0, diag(cli));
  t.match(cli.json(), { ok: true, tracks: [{ track: 'testnet', releases: [{ tag: 'testnet-1', added: true }] }, { track: 'production' }] });
  t.equal(readFileSync(join(out, 'testnet', 'testnet-1', 'manifest.json'), 'utf8'), readFileSync(join(dir, 'testnet', 'testnet-1', 'manifest.json'), 'utf8'));
});
