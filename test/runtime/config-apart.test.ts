// A config loaded by a child process (runtime/config-apart.ts), as a daemon does on a cache
// miss: it gives back exactly what a full load gives, and nothing when in doubt (a config that
// does not load, text that changed between the two reads), so the caller loads in process.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createWorkspace } from '../../scripts/demo/workspace.js';
import { loadConfigApart } from '../../src/runtime/config-apart.js';
import { cachedConfig, readConfigText, writeConfigCache } from '../../src/runtime/config-cache.js';
import { loadConfig } from '../../src/runtime/config-load.js';
import { withEnv } from '../helpers/env.js';
import { tempDir } from '../helpers/tmp.js';

const KEY = 'c'.repeat(64);

t.test('an authority workspace loaded apart is the full load, and its entry is a cache hit', async (t) => {
  withEnv(t, 'UPSHIFT_STATE_DIR', undefined);
  const ws = await createWorkspace(tempDir(t), { source: '/srv/app.git' });
  const text = readConfigText(ws.configPath);
  const apart = await loadConfigApart(ws.configPath, text);
  t.ok(apart, 'loaded by the child');
  t.strictSame(apart!.loaded, loadConfig(ws.configPath), 'the same as a load in this process');
  mkdirSync(ws.stateDir, { recursive: true });
  t.ok(writeConfigCache(ws.stateDir, apart!.entry));
  t.strictSame(cachedConfig(ws.configPath, text), apart!.loaded, 'the entry kept is found again for this text');
});

t.test('UPSHIFT_STATE_DIR reaches the child as it reaches a load in process', async (t) => {
  const dir = tempDir(t);
  withEnv(t, 'UPSHIFT_STATE_DIR', join(dir, 'elsewhere'));
  const path = join(dir, 'upshift.yaml');
  writeFileSync(path, stringify({ fleet: 'demo', state_dir: 'state', node: { id: 'web-1' }, trust: { keys: [{ public: KEY }] } }));
  const apart = await loadConfigApart(path, readConfigText(path));
  t.equal(apart?.loaded.stateDir, join(dir, 'elsewhere'));
});

t.test('a config that does not load, a missing file or other text: null, for the caller to load itself', async (t) => {
  withEnv(t, 'UPSHIFT_STATE_DIR', undefined);
  const dir = tempDir(t);
  const path = join(dir, 'upshift.yaml');
  writeFileSync(path, stringify({ fleet: 'demo', node: { id: 'web 1' }, trust: { keys: [{ public: KEY }] } }));
  t.equal(await loadConfigApart(path, readConfigText(path)), null, 'an invalid node id');
  writeFileSync(path, 'fleet: [unclosed\n');
  t.equal(await loadConfigApart(path, readConfigText(path)), null, 'not YAML');
  t.equal(await loadConfigApart(join(dir, 'missing.yaml'), ''), null, 'no file');
  writeFileSync(path, stringify({ fleet: 'demo', node: { id: 'web-1' }, trust: { keys: [{ public: KEY }] } }));
  t.equal(await loadConfigApart(path, 'fleet: other\n'), null, 'the file is not the text this process read');
});
