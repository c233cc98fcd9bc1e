// POST /v1/tools/<name> behind http.tools_token_file: the token file is checked like a key
// file, compared in constant time on digests, and without one the daemon serves no tools.
import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { createLogger } from '../../src/adapters/logger.js';
import { systemClock } from '../../src/adapters/clock.js';
import { validateConfig, type Config } from '../../src/core/config.js';
import { loadHttpExposure } from '../../src/http/exposure.js';
import { toolsRoute } from '../../src/http/routes/tools.js';
import { openStore } from '../../src/runtime/deps.js';
import { UpshiftError } from '../../src/core/errors.js';
import { callTool, type ToolEnv } from '../../src/tools/index.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir(t, 'upshift-tools-http-');
const TOKEN = 'tools-token-0123456789abcdef';
const file = (name: string, text: string, mode = 0o600) => {
  const path = join(dir, name);
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  return path;
};

function config(http: Record<string, unknown>): Config {
  return validateConfig({
    fleet: 'edge', state_dir: dir, node: { id: 'web-1' }, trust: { keys: [{ public: 'ab'.repeat(32) }] }, http,
  });
}

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return null;
  } catch (err) {
    return (err as UpshiftError).code;
  }
};

t.test('the tools token file is read like a key: private, one long word, not the read token', async (t) => {
  t.equal(loadHttpExposure(config({ tools_token_file: file('tools.token', `${TOKEN}\n`) })).toolsToken, TOKEN);
  t.equal(loadHttpExposure(config({})).toolsToken, undefined, 'none configured: no tools');
  t.equal(codeOf(() => loadHttpExposure(config({ tools_token_file: file('open.token', TOKEN, 0o644) }))), 'E_KEY_PERMS');
  t.equal(codeOf(() => loadHttpExposure(config({ tools_token_file: file('short.token', 'short') }))), 'E_CONFIG');
  t.equal(codeOf(() => loadHttpExposure(config({ tools_token_file: join(dir, 'missing') }))), 'E_CONFIG');
  const same = file('same.token', TOKEN);
  t.equal(codeOf(() => loadHttpExposure(config({ tools_token_file: same, read_token_file: same }))), 'E_CONFIG', 'a read token never acts');
});

t.test('calls need the bearer token; without one configured every call is refused', async (t) => {
  const cfg = config({});
  const store = openStore(join(dir, 'state'));
  t.teardown(() => store.close());
  const actors: string[] = [];
  const env = (actor: string): ToolEnv => {
    actors.push(actor);
    return {
      ctx: { config: cfg, store, clock: systemClock, log: createLogger({ level: 'silent' }), actor },
      pipeline: () => {
        throw new UpshiftError('E_CONFIG', 'no authority here');
      },
      drive: false,
    };
  };
  const serve = async (token: string | null) => {
    const app = Fastify({ logger: false });
    toolsRoute(token, (actor, name, args) => callTool(env(actor), name, args))(app);
    await app.ready();
    t.teardown(() => app.close());
    return (name: string, auth?: string, body: unknown = {}) => app.inject({
      method: 'POST', url: `/v1/tools/${name}`, payload: body as object, headers: auth ? { authorization: auth } : {},
    });
  };

  const off = await serve(null);
  const refused = await off('get_benchmark_history', `Bearer ${TOKEN}`);
  t.equal(refused.statusCode, 403);
  t.match(refused.json(), { ok: false, error: { code: 'E_UNAUTHORIZED' }, reason: /tools_token_file/ });

  const on = await serve(TOKEN);
  t.equal((await on('get_benchmark_history')).statusCode, 401, 'no token');
  t.equal((await on('get_benchmark_history', `Bearer ${TOKEN}x`)).statusCode, 401, 'a longer token');
  t.equal((await on('get_benchmark_history', `Basic ${TOKEN}`)).statusCode, 401, 'another scheme');
  t.equal(actors.length, 0, 'no tool ran for a refused caller');
  const ok = await on('get_benchmark_history', `Bearer ${TOKEN}`, { limit: 5 });
  t.equal(ok.statusCode, 200);
  t.match(ok.json(), { ok: true, reason: /no benchmark snapshots/, evidence: { snapshots: [] } });
  t.match(actors[0], /^http:/, 'the caller is named in the audit trail by its address');
  const bad = await on('get_benchmark_history', `Bearer ${TOKEN}`, { limit: 0 });
  t.equal(bad.statusCode, 400);
  t.match(bad.json(), { ok: false, error: { code: 'E_USAGE', details: { issues: [{ path: 'limit' }] } } });
  const unknown = await on('drop_tables', `Bearer ${TOKEN}`);
  t.equal(unknown.statusCode, 404);
  t.match(unknown.json(), { error: { code: 'E_UNKNOWN_TOOL' } });
  const noAuthority = await on('start_upgrade', `Bearer ${TOKEN}`, { dry_run: true });
  t.match(noAuthority.json(), { ok: false, error: { code: 'E_CONFIG' } }, 'a node without an authority section says so');
});
