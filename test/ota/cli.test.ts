// `upshift ota check` from the built CLI: `init` writes the ota section commented, a config
// without a feed is a config error (exit 2), one JSON document with --json, exit 1 for a
// feed that is not a feed, 0 when there is nothing newer.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/runtime/config-load.js';
import { toHex } from '../../src/trust/bytes.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { diag, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

t.test('ota check: config error, failed, up to date, each with its exit code and one JSON document', async (t) => {
  const dir = tempDir(t);
  const init = await runCli(['init', '--fleet', 'edge', '--node-id', 'n1', '--trust-key', toHex(signerFromSeed(new Uint8Array(32).fill(3)).publicKey), '--dir', dir]);
  t.equal(init.code, 0, diag(init));
  const configPath = join(dir, 'upshift.yaml');
  const yaml = readFileSync(configPath, 'utf8');
  t.match(yaml, /^# ota:$/m, 'init writes the ota section, commented');
  t.match(yaml, /^# {3}feed: /m);
  const { config } = loadConfig(configPath);
  t.match(config.ota, { feed: null, min_rate: 1024, deadline: 30 * 60_000, staging_dir: join(dir, 'state', 'ota') }, 'the defaults apply');

  const cli = (...args: string[]) => runCli(['--config', configPath, 'ota', 'check', ...args]);
  const noFeed = await cli('--json');
  t.equal(noFeed.code, 2, diag(noFeed));
  t.match(noFeed.json(), { ok: false, error: { code: 'E_CONFIG', message: /ota\.feed/ } });

  // uncommented, as an operator would
  const feed = join(dir, 'feed.json');
  writeFileSync(configPath, yaml.replace('# ota:\n#   feed: https://authority.example.com:7400/v1/ota/{track}/releases.json   # or a file path', `ota:\n  feed: ${feed}`));
  t.equal(loadConfig(configPath).config.ota.feed, feed);
  writeFileSync(feed, '<html>');
  const junk = await cli('--json');
  t.equal(junk.code, 1, diag(junk));
  t.match(junk.json(), { ok: false, outcome: 'failed', track: 'testnet', error: { code: 'E_FEED_PARSE' } });

  writeFileSync(feed, JSON.stringify([{ tag_name: 'production-3', assets: [] }]));
  const none = await cli('--json');
  t.equal(none.code, 0, diag(none));
  t.match(none.json(), { ok: true, outcome: 'up-to-date', reason: /no release for track testnet/ });
  const text = await cli();
  t.equal(text.code, 0);
  t.match(text.stdout, /^testnet: up-to-date/m, 'a person gets lines, not JSON');

  const unknown = await cli('--track', 'production');
  t.equal(unknown.code, 2, 'a track this node does not follow is a usage error');

  // a node that follows two tracks: the timer names none, so both are checked
  writeFileSync(configPath, readFileSync(configPath, 'utf8').replace('tracks: [testnet]', 'tracks: [testnet, production]'));
  writeFileSync(feed, JSON.stringify([{ tag_name: 'testnet-1', assets: [] }]));
  const both = await cli('--json');
  t.equal(both.code, 3, 'the worst outcome decides: a testnet release without its manifest is refused');
  t.match(both.json(), { ok: false, checks: [{ track: 'testnet', outcome: 'refused', error: { code: 'E_OTA_ASSET' } }, { track: 'production', outcome: 'up-to-date' }] });
});
