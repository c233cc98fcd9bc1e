// A daemon that cannot start says why and exits 2 with nothing left running (issue 9): a bad
// authority.poll fails every command at config load, and a gossip.listen address another
// server holds is E_LISTEN, not E_INTERNAL. Configs are what `init --authority` writes,
// edited the way an operator would.
import t, { type Test } from 'tap';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { diag, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

/** `upshift init --authority` in a fresh dir; returns the config path and an editor for it. */
async function initAuthority(t: Test) {
  const parent = tempDir(t, 'upshift-start-');
  const dir = join(parent, 'D');
  const init = await runCli(['init', '--authority', '--dir', dir]);
  t.equal(init.code, 0, 'init exits 0', diag(init));
  const configPath = join(dir, 'upshift.yaml');
  // nothing here runs a pipeline: `nobody` passes the sandbox check as root, `none` otherwise
  const root = process.getuid?.() === 0;
  if (root) chmodSync(parent, 0o711); // the build user passes through to D/work (mkdtemp made it 0700)
  const edit = (from: RegExp, to: string) => {
    const text = readFileSync(configPath, 'utf8');
    const edited = text.replace(from, to);
    t.not(edited, text, `the line ${String(from)} was found`);
    writeFileSync(configPath, edited);
  };
  edit(/^ {4}user: upshift-build$/m, `    user: ${root ? 'nobody' : 'none'}`);
  return { configPath, edit };
}

for (const poll of ['*/5 * * *  banana', '99 * * * *']) {
  t.test(`authority.poll ${JSON.stringify(poll)} is refused by status and daemon alike`, async (t) => {
    const { configPath, edit } = await initAuthority(t);
    edit(/^ {2}poll: .*$/m, `  poll: ${JSON.stringify(poll)}`);
    for (const cmd of ['status', 'daemon']) {
      // before the fix the daemon kept running: the time limit ends it and the exit code is null
      const r = await runCli(['--config', configPath, cmd], { timeoutMs: 30_000 });
      t.equal(r.code, 2, `${cmd} exits 2`, diag(r));
      t.match(r.stderr, /E_CONFIG/, `${cmd} says E_CONFIG`);
      t.match(r.stderr, /authority\.poll: expected a cron expression/, `${cmd} names authority.poll`);
      t.ok(r.stderr.includes(JSON.stringify(poll)), `${cmd} quotes the expression`);
    }
  });
}

t.test('a 6-field poll (seconds first) is accepted', async (t) => {
  const { configPath, edit } = await initAuthority(t);
  edit(/^ {2}poll: .*$/m, '  poll: "0 */5 * * * *"');
  const r = await runCli(['--config', configPath, 'status', '--json'], { timeoutMs: 30_000 });
  t.equal(r.code, 0, 'status exits 0', diag(r));
});

t.test('a daemon on an address another server holds exits 2 with E_LISTEN naming gossip.listen', async (t) => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  const { port } = holder.address() as AddressInfo;
  const { configPath, edit } = await initAuthority(t);
  edit(/^ {2}listen: .*$/m, `  listen: "127.0.0.1:${port}"`);

  const r = await runCli(['--config', configPath, 'daemon'], { timeoutMs: 30_000 });
  t.equal(r.code, 2, 'the daemon exits 2 (it does not stay up)', diag(r));
  const said = `upshift: E_LISTEN: gossip.listen: cannot listen on 127.0.0.1:${port}: the address is in use`;
  t.ok(r.stderr.includes(said), 'it names the code, the setting and the address', diag(r));
  t.notMatch(r.stderr, /E_INTERNAL/);

});

t.test('a second authority replica with a node key of its own is refused with E_EXISTS, and its key is not kept', async (t) => {
  const { configPath } = await initAuthority(t);
  const keys = join(configPath, '..', 'keys');
  const first = await runCli(['--config', configPath, 'join', '--self', '--json'], { timeoutMs: 30_000 });
  t.equal(first.code, 0, 'the first replica certifies its node key', diag(first));
  // a replica set up by copying the config and the release key, but not the node key
  const original = readFileSync(join(keys, 'node.key'));
  rmSync(join(keys, 'node.key'));
  rmSync(join(keys, 'node.cert'), { force: true });
  const second = await runCli(['--config', configPath, 'join', '--self'], { timeoutMs: 30_000 });
  t.equal(second.code, 2, 'refused', diag(second));
  t.match(second.stderr, /E_EXISTS: node id \S+ holds a valid certificate [\s\S]* Authority replicas share one node identity: copy \S*node\.key/);
  t.notOk(existsSync(join(keys, 'node.key')), 'the key made for the refused certificate is not kept');
  writeFileSync(join(keys, 'node.key'), original, { mode: 0o600 });
  const again = await runCli(['--config', configPath, 'join', '--self'], { timeoutMs: 30_000 });
  t.equal(again.code, 0, 'with the first replica\'s node key copied, it certifies', diag(again));
});
