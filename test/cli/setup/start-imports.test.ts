// What a short command loads (issue 9, "CLI start"): `--version`, `status` and `fleet ls` are
// called often by scripts and agents, so packages they do not use must stay unloaded. Read
// from the child itself (every ES module it loaded and every CommonJS module required), not
// from a clock, so the test holds on a busy machine.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createWorkspace } from '../../../scripts/demo/workspace.js';
import { generateKeyFile } from '../../../src/trust/keyfile.js';
import { toHex } from '../../../src/trust/bytes.js';
import { diag, runCli } from '../../helpers/cli.js';
import { isModule, loadLogEnv, loadsByPid, packageOf } from '../../helpers/loaded-modules.js';
import { tempDir } from '../../helpers/tmp.js';

async function loaded(dir: string, name: string, args: string[]): Promise<string[]> {
  const r = await runCli(args, { cwd: dir, env: loadLogEnv(dir, name) });
  if (r.code !== 0) throw new Error(`upshift ${args.join(' ')} failed: ${JSON.stringify(diag(r))}`);
  return [...loadsByPid(dir, name).values()].flat();
}

t.test('short commands load only what they use', async (t) => {
  const dir = tempDir(t);
  const { publicKey } = await generateKeyFile(join(dir, 'release.key'));
  // a plain node (no authority section), as on every machine of a fleet
  writeFileSync(join(dir, 'upshift.yaml'), stringify({
    fleet: 'demo', state_dir: 'state', node: { id: 'web-1' }, trust: { keys: [{ public: toHex(publicKey) }] },
  }));

  // of upshift's own dependencies, that is: tap's coverage hooks ride along in every child
  const deps = Object.keys((JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: object }).dependencies);
  const version = await loaded(dir, 'version', ['--version']);
  const packages = new Set(version.map(packageOf));
  t.same(deps.filter((p) => packages.has(p)), ['commander'], '--version loads commander and no other dependency');
  t.ok(version.some((u) => isModule(u, 'cli/main')), 'the CLI\'s own code is seen');
  t.notOk(version.some((u) => isModule(u, 'cli/shared')), '--version does not load what commands share');

  // used by nothing these commands do: logging, git, cron, the daemon's HTTP, the pipeline, metrics
  const unused = ['pino', 'simple-git', 'node-cron', 'fastify', 'xstate', 'prom-client', 'tar', 'tap-parser', 'fast-xml-parser'];
  for (const args of [['status'], ['fleet', 'ls']]) {
    const mods = new Set((await loaded(dir, args.join('-'), args)).map(packageOf));
    t.same(unused.filter((p) => mods.has(p)), [], `upshift ${args.join(' ')} loads none of ${unused.join(', ')}`);
  }
  // the config validated once is kept in the state dir: with nothing held, the schema, the
  // YAML parser and the signature code stay unloaded (the store is all they read)
  for (const args of [['status'], ['fleet', 'ls']]) {
    const mods = new Set((await loaded(dir, `${args.join('-')}-again`, args)).map(packageOf));
    t.same(deps.filter((p) => mods.has(p)), ['better-sqlite3', 'commander'], `upshift ${args.join(' ')} loads only commander and SQLite`);
  }
});

t.test('on the authority, reading runs loads no test-report parser: those load when TEST reads a report', async (t) => {
  const dir = tempDir(t);
  const ws = await createWorkspace(join(dir, 'authority'), { source: join(dir, 'source') });
  const parsers = ['tap-parser', 'fast-xml-parser'];
  for (const args of [['pipeline', 'history'], ['pipeline', 'status']]) {
    const mods = new Set((await loaded(dir, args.join('-'), ['-c', ws.configPath, ...args])).map(packageOf));
    t.same(parsers.filter((p) => mods.has(p)), [], `upshift ${args.join(' ')} loads neither`);
  }
});

t.test('a config changed after it was cached is loaded and checked in full', async (t) => {
  const dir = tempDir(t);
  const { publicKey } = await generateKeyFile(join(dir, 'release.key'));
  const config = { fleet: 'demo', state_dir: 'state', node: { id: 'web-1' }, trust: { keys: [{ public: toHex(publicKey) }] } };
  writeFileSync(join(dir, 'upshift.yaml'), stringify(config));
  for (let i = 0; i < 2; i++) t.equal((await runCli(['status', '--json'], { cwd: dir })).code, 0);
  writeFileSync(join(dir, 'upshift.yaml'), stringify({ ...config, node: { id: 'web 2' } }));
  const bad = await runCli(['status'], { cwd: dir });
  t.equal(bad.code, 2, 'refused', diag(bad));
  t.match(bad.stderr, /E_CONFIG: [^]*node\.id: expected lowercase/);
  writeFileSync(join(dir, 'upshift.yaml'), stringify({ ...config, node: { id: 'web-2' } }));
  const good = await runCli(['status', '--json'], { cwd: dir });
  t.equal(good.json().node.id, 'web-2', 'the new text, not the cached one');
});
