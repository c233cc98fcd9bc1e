// The validated config kept in the state dir (runtime/config-cache.ts): it gives back exactly
// what a full load gives, and only for the same text, path and UPSHIFT_STATE_DIR.
import t from 'tap';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createWorkspace } from '../../scripts/demo/workspace.js';
import { cachedConfig, readConfigText, saveConfigCache } from '../../src/runtime/config-cache.js';
import { loadConfig } from '../../src/runtime/config-load.js';
import { withEnv } from '../helpers/env.js';
import { tempDir } from '../helpers/tmp.js';

const KEY = 'c'.repeat(64);

/** UPSHIFT_STATE_DIR for one test (undefined: kept out), restored afterwards. */
const withStateDirEnv = (t: Tap.Test, value: string | undefined) => withEnv(t, 'UPSHIFT_STATE_DIR', value);

/** Load in full, keep it, and return it with its text (the state dir made first, as the store does). */
function loadAndSave(path: string) {
  const loaded = loadConfig(path);
  mkdirSync(loaded.stateDir, { recursive: true });
  const text = readConfigText(path);
  saveConfigCache(loaded, text);
  return { loaded, text };
}

t.test('an authority workspace comes back from the cache exactly as loaded in full', async (t) => {
  withStateDirEnv(t, undefined);
  const ws = await createWorkspace(tempDir(t), { source: '/srv/app.git' });
  const { loaded, text } = loadAndSave(ws.configPath);
  t.equal(statSync(join(ws.stateDir, 'config-cache.json')).mode & 0o777, 0o600, 'kept private');
  t.strictSame(cachedConfig(ws.configPath, text), loaded);
  t.not(cachedConfig(ws.configPath, text), cachedConfig(ws.configPath, text), 'a fresh object each time (callers may change it)');
});

t.test('state_dir quoted, commented or absolute is found; any other text misses', async (t) => {
  withStateDirEnv(t, undefined);
  const dir = tempDir(t);
  const base = { fleet: 'demo', node: { id: 'web-1' }, trust: { keys: [{ public: KEY }] } };
  for (const line of ['state_dir: "var/state"', "state_dir: 'var/state'  # here", `state_dir: ${join(dir, 'abs')}`, '']) {
    const path = join(dir, 'upshift.yaml');
    writeFileSync(path, `${stringify(base)}${line}\n`);
    const { loaded, text } = loadAndSave(path);
    t.strictSame(cachedConfig(path, text), loaded, `found with ${JSON.stringify(line)}`);
    t.equal(cachedConfig(path, `${text}# edited\n`), null, 'changed text misses');
    t.equal(cachedConfig(join(dir, 'other.yaml'), text), null, 'another path misses');
  }
});

t.test('another UPSHIFT_STATE_DIR, a damaged cache or a config that does not load: a miss, nothing cached', async (t) => {
  withStateDirEnv(t, undefined);
  const dir = tempDir(t);
  const path = join(dir, 'upshift.yaml');
  writeFileSync(path, stringify({ fleet: 'demo', state_dir: 'state', node: { id: 'web-1' }, trust: { keys: [{ public: KEY }] } }));
  const { text } = loadAndSave(path);
  process.env.UPSHIFT_STATE_DIR = join(dir, 'state');
  t.equal(cachedConfig(path, text), null, 'the env moves the state dir: its own entry');
  delete process.env.UPSHIFT_STATE_DIR;
  const file = join(dir, 'state', 'config-cache.json');
  writeFileSync(file, readFileSync(file, 'utf8').slice(0, 40));
  t.equal(cachedConfig(path, text), null, 'a truncated cache is a miss');
  writeFileSync(file, JSON.stringify({ key: 'x', text, loaded: {} }));
  t.equal(cachedConfig(path, text), null, 'a cache of other code is a miss');
});

t.test('without a state dir nothing is written and nothing is found', async (t) => {
  withStateDirEnv(t, undefined);
  const dir = tempDir(t);
  const path = join(dir, 'upshift.yaml');
  writeFileSync(path, stringify({ fleet: 'demo', state_dir: 'nowhere', node: { id: 'web-1' }, trust: { keys: [{ public: KEY }] } }));
  const loaded = loadConfig(path);
  const text = readConfigText(path);
  saveConfigCache(loaded, text);
  t.equal(cachedConfig(path, text), null);
});
