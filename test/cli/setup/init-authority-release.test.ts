// The config `upshift init --authority` writes must release on every track it defines: its
// node runs testnet only, yet a production tag goes through all seven stages and its
// manifest is held for gossip (holding and forwarding a track is not applying it).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_KEY_PREFIX } from '../../../src/node/agent/manifest-source.js';
import { loadConfig } from '../../../src/runtime/config-load.js';
import { openStore } from '../../../src/runtime/deps.js';
import { diag, runCli } from '../../helpers/cli.js';
import { gitRepo } from '../../helpers/gitdir.js';
import { tempDir } from '../../helpers/tmp.js';

/** A minimal npm app for the commands init writes (npm ci, npm test, npm run lint --if-present). */
const APP = {
  'package.json': `${JSON.stringify({ name: 'app', version: '1.0.0', private: true, scripts: { test: 'node test.js' } }, null, 2)}\n`,
  'package-lock.json': `${JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'app', version: '1.0.0' } } }, null, 2)}\n`,
  'test.js': "console.log('TAP version 14\\n1..1\\nok 1 - works');\n",
};

t.test('init --authority output releases a production tag although its node runs only testnet', async (t) => {
  const repo = gitRepo(t);
  repo.commit('v1', APP);
  repo.tag('v1.0.0');
  const parent = tempDir(t, 'upshift-init-');
  const dir = join(parent, 'D');
  const init = await runCli(['init', '--authority', '--dir', dir]);
  t.equal(init.code, 0, 'init exits 0', diag(init));
  // what init says to do next: create the build user (as root, as the README's install does)
  const useradd = /^\s+(useradd .*)$/m.exec(init.stdout)?.[1];
  t.ok(useradd, 'init prints the useradd line');
  if (process.getuid?.() !== 0) return void t.comment('creating the build user needs root: not run');
  try {
    execFileSync('id', ['-u', 'upshift-build'], { stdio: 'ignore' });
  } catch {
    execFileSync('sh', ['-c', useradd as string], { stdio: 'ignore' });
  }
  chmodSync(parent, 0o711); // the build user passes through to D/work (mkdtemp made it 0700)

  // The one edit the README and init's "next:" line ask for: point authority.source at the app.
  const configPath = join(dir, 'upshift.yaml');
  const text = readFileSync(configPath, 'utf8');
  const edited = text.replace(/^ {2}source: .*$/m, `  source: ${JSON.stringify(repo.dir)}`);
  t.not(edited, text, 'the source line was found');
  writeFileSync(configPath, edited);
  const { config } = loadConfig(configPath);
  t.same(config.node.tracks, ['testnet'], 'init\'s node runs testnet only');
  t.ok(config.authority?.tracks.production, 'and its authority releases production');

  const cli = (...args: string[]) => runCli(['--config', configPath, ...args], { timeoutMs: 120_000 });
  const prod = await cli('pipeline', 'run', '--ref', 'v1.0.0', '--json');
  t.equal(prod.code, 0, 'the production run exits 0', diag(prod));
  const out = prod.json<{ run: { status: string; track: string }; stages: Array<{ stage: string; outcome: string; reason: string }> }>();
  t.equal(out.run.track, 'production');
  t.equal(out.run.status, 'completed');
  t.match(out.stages.find((s) => s.stage === 'deploy'), { outcome: 'passed' });

  const testnet = await cli('pipeline', 'run', '--ref', 'main', '--json');
  t.equal(testnet.code, 0, 'testnet still releases', diag(testnet));

  const store = openStore(config.state_dir);
  t.teardown(() => store.close());
  const signed = await store.manifests.latestSigned('production');
  t.equal(await store.kv.get(`${MANIFEST_KEY_PREFIX}production`), signed?.envelope, 'the newest production manifest is held for the daemon to gossip');
  t.ok(await store.kv.get(`${MANIFEST_KEY_PREFIX}testnet`), 'and the testnet one beside it');
  t.equal(await store.floors.get('production'), null, 'held, not applied: this node does not run production');
});
