import t from 'tap';
import { readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../../src/runtime/config-load.js';
import { defaultNodeId } from '../../../src/cli/commands/init.js';
import { diag, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

const mode = (path: string): number => statSync(path).mode & 0o777;

/** Every file under dir with its content, to prove a refusal changed nothing. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const full = join(entry.parentPath, entry.name);
    out[full] = entry.isFile() ? readFileSync(full, 'utf8') : '<dir>';
  }
  return out;
}

t.test('init --authority writes a config that loads, a node key and a trusted release key', async (t) => {
  const dir = tempDir(t);
  const r = await runCli(['init', '--authority', '--fleet', 'edge', '--node-id', 'auth-1', '--json'], { cwd: dir });
  t.equal(r.code, 0, 'exits 0', diag(r));
  const out = r.json();
  t.equal(out.ok, true);
  t.equal(out.config, join(dir, 'upshift.yaml'));

  const { config } = loadConfig(join(dir, 'upshift.yaml'));
  t.equal(config.fleet, 'edge');
  t.equal(config.node.id, 'auth-1');
  t.same(config.trust.keys, [{ public: out.keys.release.public, keyid: out.keys.release.keyid }]);
  t.equal(config.trust.threshold, 1);
  t.same(config.authority?.signing_keys, [join(dir, 'keys', 'release.key')]);
  t.equal(config.authority?.source, join(dir, '..', 'app'), 'source defaults to ../app beside the config');
  t.equal(config.authority?.test.format, 'auto');
  t.equal(config.authority?.test.command, 'npm test');
  t.same(config.authority?.sandbox, { user: 'upshift-build', work_dir: join(dir, 'work'), env: [] },
    'stage commands run as an unprivileged user, in work trees outside the state dir');

  t.equal(mode(join(dir, 'keys')), 0o700, 'keys/ is private to its owner');
  t.equal(mode(join(dir, 'keys', 'node.key')), 0o600);
  t.equal(mode(join(dir, 'keys', 'release.key')), 0o600);
  t.not(out.keys.node.keyid, out.keys.release.keyid, 'the node identity and the release key are different keys');
  t.match(readFileSync(join(dir, 'upshift.yaml'), 'utf8'), /^# /m, 'the config explains itself in comments');
});

t.test('init --authority --source writes the given repository', async (t) => {
  const dir = tempDir(t);
  const r = await runCli(['init', '--authority', '--node-id', 'a', '--source', 'git@example.com:org/app.git', '--dir', dir]);
  t.equal(r.code, 0, 'exits 0', diag(r));
  t.match(r.stdout, /wrote .*release\.key/);
  t.equal(loadConfig(join(dir, 'upshift.yaml')).config.authority?.source, 'git@example.com:org/app.git');
});

t.test('a plain node trusts the keys given with --trust-key and has no authority section', async (t) => {
  const authority = tempDir(t);
  const a = await runCli(['init', '--authority', '--node-id', 'auth', '--json'], { cwd: authority });
  const releasePub: string = a.json().keys.release.public;

  const dir = join(tempDir(t), 'fresh', 'node');
  const r = await runCli(['init', '--dir', dir, '--node-id', 'web-1', '--trust-key', releasePub]);
  t.equal(r.code, 0, 'exits 0', diag(r));
  const { config } = loadConfig(join(dir, 'upshift.yaml'));
  t.equal(config.fleet, 'default');
  t.equal(config.authority, undefined);
  t.equal(config.trust.keys[0]?.public, releasePub);
  t.same(readdirSync(join(dir, 'keys')), ['node.key'], 'no release key on a plain node');
  t.equal(mode(join(dir, 'keys', 'node.key')), 0o600);
});

t.test('a plain node without --trust-key is a usage error that writes nothing', async (t) => {
  const dir = tempDir(t);
  const r = await runCli(['init', '--json'], { cwd: dir });
  t.equal(r.code, 2);
  t.equal(r.json().error.code, 'E_USAGE');
  t.same(readdirSync(dir), []);
});

t.test('a malformed trust key or node id is refused before anything is written', async (t) => {
  const dir = tempDir(t);
  const bad = await runCli(['init', '--trust-key', 'abcd', '--json'], { cwd: dir });
  t.equal(bad.code, 2);
  t.equal(bad.json().error.code, 'E_KEY_INVALID');
  const id = await runCli(['init', '--authority', '--node-id', 'Not_Valid!', '--json'], { cwd: dir });
  t.equal(id.code, 2);
  t.equal(id.json().error.code, 'E_USAGE');
  t.same(readdirSync(dir), []);
});

t.test('running init twice refuses with E_EXISTS and changes nothing', async (t) => {
  const dir = tempDir(t);
  t.equal((await runCli(['init', '--authority', '--node-id', 'a'], { cwd: dir })).code, 0);
  const before = snapshot(dir);
  const r = await runCli(['init', '--authority', '--node-id', 'a', '--json'], { cwd: dir });
  t.equal(r.code, 2);
  t.equal(r.json().error.code, 'E_EXISTS');
  t.same(snapshot(dir), before);
  const text = await runCli(['init', '--authority', '--node-id', 'a'], { cwd: dir });
  t.match(text.stderr, /E_EXISTS: refusing to overwrite .*upshift\.yaml/);
});

t.test('one existing target is enough to refuse, and no other file is written', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'keys'), { mode: 0o700 });
  writeFileSync(join(dir, 'keys', 'release.key'), 'precious\n', { mode: 0o600 });
  const r = await runCli(['init', '--authority', '--node-id', 'a', '--json'], { cwd: dir });
  t.equal(r.code, 2);
  t.equal(r.json().error.code, 'E_EXISTS');
  t.same(readdirSync(dir), ['keys']);
  t.same(readdirSync(join(dir, 'keys')), ['release.key']);
  t.equal(readFileSync(join(dir, 'keys', 'release.key'), 'utf8'), 'precious\n');
});

t.test('the default node id is the hostname in the config name rule', async (t) => {
  t.equal(defaultNodeId('web-01'), 'web-01');
  t.equal(defaultNodeId('Web_01.Example.COM'), 'web_01-example-com');
  t.equal(defaultNodeId('-edge.'), 'edge');
  t.equal(defaultNodeId('x'.repeat(80)).length, 63);
  t.equal(defaultNodeId('...'), 'node', 'nothing usable falls back to "node"');
});
