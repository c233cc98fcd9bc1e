// A daemon whose config is not cached yet has it loaded by a child process (issue 9,
// footprint): the YAML parser and the config schema never load into the daemon, which runs
// weeks, yet the config is checked in full and cached for the next start. Read from each
// process itself (every ES module it loaded and every CommonJS module required, one log per
// pid), not from memory figures, so the test holds on a busy machine.
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateKeyFile } from '../../../src/trust/keyfile.js';
import { toHex } from '../../../src/trust/bytes.js';
import { CLI_PATH, diag, runCli } from '../../helpers/cli.js';
import { isModule, loadLogEnv, loadsByPid, packageOf } from '../../helpers/loaded-modules.js';
import { spawnChild } from '../../helpers/procs.js';
import { tempDir } from '../../helpers/tmp.js';

async function nodeConfig(dir: string): Promise<string> {
  const { publicKey } = await generateKeyFile(join(dir, 'release.key'));
  const path = join(dir, 'upshift.yaml');
  writeFileSync(path, stringify({
    fleet: 'demo', state_dir: 'state', node: { id: 'web-1' }, trust: { keys: [{ public: toHex(publicKey) }] },
    gossip: { listen: '127.0.0.1:0' },
  }));
  return path;
}

const yamlOrSchema = (u: string) => packageOf(u) === 'yaml' || isModule(u, 'core/config') || isModule(u, 'runtime/config-load');

t.test('a daemon on a config not cached yet never loads the YAML parser or the config schema', async (t) => {
  const dir = tempDir(t);
  const configPath = await nodeConfig(dir);
  const env = { ...loadLogEnv(dir), UPSHIFT_LOG_LEVEL: 'info' };
  const child = spawnChild(t, process.execPath, [CLI_PATH, '--config', configPath, 'daemon'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const address = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      logs += d;
      const m = /"address":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(logs);
      if (m) resolve(m[1] as string);
    });
    void exited.then((code) => reject(new Error(`daemon exited ${code}: ${logs}`)));
  });
  // answered once its start has returned, so its SIGTERM handler is in place
  t.equal((await fetch(`${address}/healthz`)).status, 200, 'the daemon serves');
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'the daemon ran on the config and stopped cleanly');

  const loads = loadsByPid(dir);
  const daemon = loads.get(child.pid!) ?? [];
  t.ok(daemon.some((u) => isModule(u, 'runtime/daemon')), 'the daemon\'s own log is read');
  t.same(daemon.filter(yamlOrSchema), [], 'neither in the daemon');
  const others = [...loads].filter(([pid]) => pid !== child.pid).map(([, urls]) => urls);
  t.ok(others.some((urls) => urls.some((u) => isModule(u, 'runtime/config-load'))), 'a child process loaded the config in full');
  t.ok(existsSync(join(dir, 'state', 'config-cache.json')), 'and it is cached for the next start');
});

t.test('a config that does not load stops the daemon with the usual error', async (t) => {
  const dir = tempDir(t);
  const configPath = await nodeConfig(dir);
  writeFileSync(configPath, readFileSync(configPath, 'utf8').replace('id: web-1', 'id: web 1'));
  const r = await runCli(['--config', configPath, 'daemon'], { timeoutMs: 60_000 });
  t.equal(r.code, 2, 'exits 2', diag(r));
  t.match(r.stderr, /E_CONFIG: [^]*node\.id: expected lowercase/);
});
