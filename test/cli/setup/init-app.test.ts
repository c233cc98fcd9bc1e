// The config `init` writes works as written: both commented app examples load once
// uncommented, the listen default is stated, and bad app input is an E_CONFIG that names
// the setting. (A second daemon on the same address: test/cli/daemon/daemon-startup.test.ts.)
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../../src/runtime/config-load.js';
import { diag, runCli } from '../../helpers/cli.js';
import { setValue, uncommentApp } from '../../helpers/config-text.js';
import { tempDir } from '../../helpers/tmp.js';

const root = tempDir(t, 'upshift-init-app-');
const init = await runCli(['init', '--authority', '--dir', join(root, 'a'), '--json']);
const path = join(root, 'a', 'upshift.yaml');
const text = readFileSync(path, 'utf8');

const loads = (body: string) => {
  writeFileSync(path, body);
  return loadConfig(path).config;
};
const problems = (body: string) => {
  writeFileSync(path, body);
  try {
    loadConfig(path);
    return [];
  } catch (err) {
    return ((err as { details?: { problems?: Array<{ path: string; message: string }> } }).details?.problems ?? []);
  }
};

t.test('init states the listen default and comments every section it writes', async (t) => {
  t.equal(init.code, 0, diag(init));
  t.match(text, /Default 127\.0\.0\.1:7400/);
  t.match(text, /^ {2}listen: "127\.0\.0\.1:7400"$/m);
  t.match(text, /E_LISTEN naming this setting/);
  for (const section of ['fleet', 'state_dir', 'node', 'trust', 'gossip', 'log', 'authority']) {
    const lines = text.split('\n');
    const at = lines.findIndex((l) => l.startsWith(`${section}:`));
    const near = [lines[at - 1], lines[at + 1]].map((l) => (l ?? '').trim());
    t.ok(at > 0 && near.some((l) => l.startsWith('#')), `${section}: has a comment above or as its first line`);
  }
  t.equal(loadConfig(path).config.app, undefined, 'as written: no app, and it loads');
});

t.test('the systemd example loads once uncommented', async (t) => {
  const app = loads(uncommentApp(text, 'a')).app;
  t.match(app, { dir: '/srv/myapp', restart: 'systemctl restart myapp.service', health: { url: 'http://127.0.0.1:8080/healthz', interval: 1000 } });
  t.match(app?.metrics, { errors: 'app_errors_total', requests: 'app_requests_total', window: 30_000 });
});

t.test('the plain-process example loads once uncommented, its restart command whole', async (t) => {
  const app = loads(uncommentApp(text, 'b')).app;
  t.equal(app?.dir, join(root, 'a', 'app'), 'relative to the config file');
  t.match(app?.restart, /^kill "\$\(cat shared\/app\.pid 2>\/dev\/null\)" .* echo \$! >"\$UPSHIFT_APP_DIR\/shared\/app\.pid"; }$/);
});

t.test('the blue-green example loads once uncommented: slots, drain and stop', async (t) => {
  const app = loads(uncommentApp(text, 'c')).app;
  t.match(app?.blue_green, { listen: '0.0.0.0:8080', ports: [8081, 8082], drain: 10_000, stop: 'kill "$(cat shared/$UPSHIFT_SLOT.pid)"' });
  t.match(app?.restart, /PORT=\$UPSHIFT_PORT .*shared\/\$UPSHIFT_SLOT\.pid"; }$/);
});

t.test('bad app input is E_CONFIG naming the setting', async (t) => {
  const plain = uncommentApp(text, 'b');
  const tcp = setValue(plain, 'health', '{ url: "tcp://127.0.0.1:8080" }');
  t.match(problems(tcp), [{ path: 'app.health.url', message: /http\(s\) URL/ }]);
  t.match(problems(setValue(plain, 'metrics', '{ url: "127.0.0.1:8080/metrics" }')), [{ path: 'app.metrics.url' }]);
  t.match(problems(setValue(plain, 'restart', '""')), [{ path: 'app.restart', message: /shell command/ }]);
  const forever = plain.replace(/^( {2}install: null)$/m, '$1\n  hook_timeout: forever');
  t.match(problems(forever), [{ path: 'app.hook_timeout', message: /duration/ }]);
  writeFileSync(path, forever);
  const r = await runCli(['-c', path, 'status']);
  t.equal(r.code, 2, 'status refuses the same config', diag(r));
  t.match(r.stderr, /E_CONFIG: .*\n {2}app\.hook_timeout: expected a duration/);
});
