// The stage sandbox fails closed: every way a stage command could reach a key or the state
// is refused with E_SANDBOX before any command runs. Checks that need a real uid switch
// (as the CI does) run as root, with `nobody` as the build user.
import t from 'tap';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/adapters/logger.js';
import { createSandbox } from '../../src/adapters/sandbox.js';
import type { AuthorityConfig } from '../../src/core/config.js';
import { generateKeyFile } from '../../src/trust/keyfile.js';
import { tempDir } from '../helpers/tmp.js';

const asRoot = process.getuid?.() === 0;
const rootOnly = { skip: asRoot ? false : 'switching users needs root' };

async function layout(t: Tap.Test, sandbox: Partial<AuthorityConfig['sandbox']> = {}) {
  const dir = tempDir(t, 'upshift-sandbox-');
  chmodSync(dir, 0o711);
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, { mode: 0o700 });
  writeFileSync(join(stateDir, 'upshift.db'), 'state', { mode: 0o644 });
  mkdirSync(join(dir, 'keys'), { mode: 0o700 });
  const key = join(dir, 'keys', 'release.key');
  await generateKeyFile(key);
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(c, _e, cb) {
      lines.push(JSON.parse(String(c)) as Record<string, unknown>);
      cb();
    },
  });
  const cfg = { user: 'nobody', work_dir: join(dir, 'work'), env: [], ...sandbox };
  const secrets = [key, join(dir, 'keys', 'node.key')];
  const box = createSandbox({ sandbox: cfg, stateDir, secrets, log: createLogger({ level: 'info', destination: sink }) });
  return { dir, stateDir, key, box, lines };
}

t.test('with no sandbox user configured, nothing runs and nothing is created', async (t) => {
  const l = await layout(t, { user: null });
  await t.rejects(l.box.ready(), { code: 'E_SANDBOX', message: /authority\.sandbox\.user is not set.*could read the signing keys/ });
  t.notOk(existsSync(l.box.workRoot), 'no work dir was made');
});

t.test('a user that does not exist, or root, is refused', async (t) => {
  const unknown = await layout(t, { user: 'upshift-no-such-user' });
  await t.rejects(unknown.box.ready(), { code: 'E_SANDBOX', message: /no user "upshift-no-such-user".*useradd --system/ });
  const root = await layout(t, { user: 'root' });
  await t.rejects(root.box.ready(), { code: 'E_SANDBOX', message: /uid or gid 0|daemon's own user/ });
});

t.test('a work dir inside the state dir, or holding the keys, is refused', async (t) => {
  const l = await layout(t);
  const log = createLogger({ level: 'silent' });
  const inState = createSandbox({
    sandbox: { user: 'nobody', work_dir: join(l.stateDir, 'work'), env: [] }, stateDir: l.stateDir, secrets: [l.key], log,
  });
  await t.rejects(inState.ready(), { code: 'E_SANDBOX', message: /overlaps the state dir/ });
  const aroundKeys = createSandbox({
    sandbox: { user: 'none', work_dir: l.dir, env: [] }, stateDir: join(l.dir, 'elsewhere'), secrets: [l.key], log,
  });
  await t.rejects(aroundKeys.ready(), { code: 'E_SANDBOX', message: /holds a key/ });
});

t.test('"none" runs commands as the daemon itself, and says loudly what that means', async (t) => {
  const l = await layout(t, { user: 'none' });
  await l.box.ready();
  const as = l.box.spawnAs({ UPSHIFT_RUN_ID: 'r-1' });
  t.equal(as.uid, undefined, 'no user switch');
  t.ok(l.lines.some((x) => x.level === 40 && /CAN READ THE SIGNING KEYS/.test(String(x.msg))), 'a warning names the risk');
});

t.test('a state dir the build user can enter is refused until it is made private', rootOnly, async (t) => {
  const l = await layout(t);
  chmodSync(l.stateDir, 0o755);
  await t.rejects(l.box.ready(), { code: 'E_SANDBOX', message: new RegExp(`sandbox user "nobody" can enter ${l.stateDir}`) });
  chmodSync(l.stateDir, 0o700);
  await l.box.ready();
  t.pass('ready once the state dir is 0700: a refusal is not remembered');
});

t.test('keys the build user could read, replace or own are refused', rootOnly, async (t) => {
  const open = await layout(t);
  chmodSync(join(open.dir, 'keys'), 0o777);
  await t.rejects(open.box.ready(), { code: 'E_SANDBOX', message: /can write .*keys/ });
  const owned = await layout(t);
  chownSync(owned.key, 65534, 65534);
  await t.rejects(owned.box.ready(), { code: 'E_SANDBOX', message: /owns .*release\.key/ });
});

t.test('a work dir the build user cannot reach is refused', rootOnly, async (t) => {
  const l = await layout(t);
  chmodSync(l.dir, 0o700);
  await t.rejects(l.box.ready(), { code: 'E_SANDBOX', message: /cannot reach .*work/ });
});

t.test('the environment is scrubbed: only the basics, the allow-list, and the run variables, which win', rootOnly, async (t) => {
  const l = await layout(t, { env: ['SANDBOX_OK', 'UPSHIFT_RUN_ID'] });
  const saved = { ...process.env };
  t.teardown(() => {
    for (const k of ['SANDBOX_OK', 'SANDBOX_SECRET', 'UPSHIFT_RUN_ID']) delete process.env[k];
    Object.assign(process.env, saved);
  });
  Object.assign(process.env, { SANDBOX_OK: 'yes', SANDBOX_SECRET: 'no', UPSHIFT_RUN_ID: 'forged' });
  await l.box.ready();
  const as = l.box.spawnAs({ UPSHIFT_RUN_ID: 'r-real', CI: 'true' });
  t.same([as.uid, as.gid], [65534, 65534]);
  t.equal(as.env.SANDBOX_OK, 'yes');
  t.equal(as.env.SANDBOX_SECRET, undefined);
  t.equal(as.env.UPSHIFT_RUN_ID, 'r-real', 'a passed-on variable cannot forge the reaper\'s marker');
  t.equal(as.env.HOME, join(l.box.workRoot, '.home'));
  t.same(Object.keys(as.env).filter((k) => !['PATH', 'LANG', 'LC_ALL', 'TZ'].includes(k)).sort(),
    ['CI', 'HOME', 'LOGNAME', 'SANDBOX_OK', 'UPSHIFT_RUN_ID', 'USER']);
});

t.test('a file the build planted is read with its rights: a symlink to the key reads nothing', rootOnly, async (t) => {
  const l = await layout(t);
  await l.box.ready();
  const tree = join(l.box.workRoot, 'r-test');
  mkdirSync(tree);
  writeFileSync(join(tree, 'report.tap'), 'TAP version 14\n1..1\nok 1\n');
  symlinkSync(l.key, join(tree, 'stolen.tap'));
  await l.box.handOver(tree);
  t.equal(await l.box.readFile(join(tree, 'report.tap')), 'TAP version 14\n1..1\nok 1\n');
  t.equal(await l.box.readFile(join(tree, 'stolen.tap')), null);
  await l.box.clear(tree);
  t.same(readdirSync(tree), [], 'clear empties the tree with the build user\'s rights');
});
