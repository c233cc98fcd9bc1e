import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createWorkspace } from '../../scripts/demo/workspace.js';
import { defaultConfigPath, loadConfig } from '../../src/runtime/config-load.js';
import { withEnv } from '../helpers/env.js';
import { tempDir } from '../helpers/tmp.js';

const KEY = 'c'.repeat(64);

function authorityConfig(authority: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    fleet: 'demo',
    node: { id: 'authority' },
    trust: { keys: [{ public: KEY }] },
    authority: { source: '../source', signing_keys: ['keys/release.key'], build: { command: 'make' }, test: { command: 'make test' }, ...authority },
    ...top,
  };
}

/** Write upshift.yaml into a fresh `<tmp>/etc/upshift` and return its path. */
function writeConfig(t: Tap.Test, text: string): string {
  const dir = join(tempDir(t), 'etc', 'upshift');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'upshift.yaml');
  writeFileSync(path, text);
  return path;
}

/** UPSHIFT_STATE_DIR for one test (undefined: kept out), restored afterwards. */
const withStateDirEnv = (t: Tap.Test, value: string | undefined) => withEnv(t, 'UPSHIFT_STATE_DIR', value);

t.test('the workspace that the demo and tests build loads as a valid authority config', async (t) => {
  withStateDirEnv(t, undefined);
  const ws = await createWorkspace(tempDir(t), { source: '/srv/app.git' });
  const loaded = loadConfig(ws.configPath);
  t.equal(loaded.path, ws.configPath);
  t.equal(loaded.dir, ws.dir);
  t.equal(loaded.stateDir, ws.stateDir);
  t.equal(loaded.config.state_dir, ws.stateDir);
  t.same(loaded.config.authority?.signing_keys, [ws.keyPath]);
  t.equal(loaded.config.trust.keys[0]?.public, ws.publicKey);
  t.same(loaded.config.node.tracks, ['testnet', 'production']);
});

t.test('relative signing keys, state dir and source resolve against the config file, not the cwd', async (t) => {
  withStateDirEnv(t, undefined);
  const path = writeConfig(t, stringify(authorityConfig({ signing_keys: ['keys/a.key', '/abs/b.key'] }, { state_dir: '../../var/upshift' })));
  const dir = join(path, '..');
  const { config, stateDir } = loadConfig(path);
  t.same(config.authority?.signing_keys, [join(dir, 'keys/a.key'), '/abs/b.key']);
  t.equal(config.authority?.source, join(dir, '../source'));
  t.equal(stateDir, join(dir, '../../var/upshift'));
  t.equal(config.state_dir, stateDir);
});

t.test('a git URL source is left as written', async (t) => {
  withStateDirEnv(t, undefined);
  for (const source of ['https://git.example.com/org/app.git', 'ssh://git@git.example.com/org/app.git', 'git@github.com:org/app.git', 'file:///srv/app.git']) {
    const { config } = loadConfig(writeConfig(t, stringify(authorityConfig({ source }))));
    t.equal(config.authority?.source, source);
  }
});

t.test('UPSHIFT_STATE_DIR overrides the state dir of the file', async (t) => {
  withStateDirEnv(t, '/var/lib/upshift-test');
  const { stateDir, config } = loadConfig(writeConfig(t, stringify(authorityConfig({}, { state_dir: 'state' }))));
  t.equal(stateDir, '/var/lib/upshift-test');
  t.equal(config.state_dir, '/var/lib/upshift-test');
});

t.test('YAML with a duplicate key is refused with E_CONFIG naming the line', async (t) => {
  const path = writeConfig(t, `fleet: demo\nnode:\n  id: a\n  id: b\ntrust:\n  keys:\n    - public: ${KEY}\n`);
  t.throws(() => loadConfig(path), {
    code: 'E_CONFIG',
    message: /is not valid YAML:\n {2}line 4: Map keys must be unique/,
    details: { problems: [{ path: 'line 4', message: /Map keys must be unique/ }] },
  });
});

t.test('YAML that does not parse is refused with E_CONFIG', async (t) => {
  t.throws(() => loadConfig(writeConfig(t, 'fleet: [demo\n')), { code: 'E_CONFIG', message: /is not valid YAML/ });
});

t.test('a missing config file is E_CONFIG pointing at `upshift init`', async (t) => {
  const path = join(tempDir(t), 'nope', 'upshift.yaml');
  t.throws(() => loadConfig(path), { code: 'E_CONFIG', message: `config file ${path} not found (run \`upshift init\` to write one)` });
});

t.test('a config path that cannot be read as a file is E_CONFIG saying why', async (t) => {
  const dir = tempDir(t);
  t.throws(() => loadConfig(dir), { code: 'E_CONFIG', message: new RegExp(`^cannot read config ${dir}: .*EISDIR`) });
});

t.test('schema problems in the file are reported with the file path and every dot-path', async (t) => {
  const path = writeConfig(t, stringify(authorityConfig({ test: { command: 'make test', min_pass_rate: 2 }, canary: { soak: '5 minutes' } })));
  t.throws(() => loadConfig(path), {
    code: 'E_CONFIG',
    message: new RegExp(`^${path} has 2 problems:`),
    details: { problems: [{ path: 'authority.test.min_pass_rate' }, { path: 'authority.canary.soak' }] },
  });
});

t.test('an empty file lists the keys it needs', async (t) => {
  t.throws(() => loadConfig(writeConfig(t, '')), {
    code: 'E_CONFIG',
    details: { problems: [{ path: 'fleet' }, { path: 'node' }, { path: 'trust' }] },
  });
});

t.test('the config path comes from UPSHIFT_CONFIG, else ./upshift.yaml', async (t) => {
  t.equal(defaultConfigPath({ UPSHIFT_CONFIG: '/etc/upshift/upshift.yaml' }), '/etc/upshift/upshift.yaml');
  t.equal(defaultConfigPath({}), 'upshift.yaml');
});
