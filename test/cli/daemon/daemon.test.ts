// `upshift daemon` on the authority: it catches up at start (runs the current head),
// and SIGTERM stops it cleanly with the state persisted.
import t from 'tap';
import { sampleAppFiles } from '../../../scripts/demo/sample-app.js';
import { createWorkspace } from '../../../scripts/demo/workspace.js';
import { openStore } from '../../../src/runtime/deps.js';
import { CLI_PATH, diag, runCli } from '../../helpers/cli.js';
import { gitRepo } from '../../helpers/gitdir.js';
import { spawnChild } from '../../helpers/procs.js';
import { WAIT } from '../../helpers/timeouts.js';
import { tempDir } from '../../helpers/tmp.js';

t.test('the authority daemon runs the new head at start and exits 0 on SIGTERM', async (t) => {
  const repo = gitRepo(t);
  const head = repo.commit('v1', sampleAppFiles({ version: 'v1', latencyMs: 10 }));
  const ws = await createWorkspace(tempDir(t), { source: repo.dir, authority: { poll: '0 0 1 1 *' } });
  const child = spawnChild(t, process.execPath, [CLI_PATH, '--config', ws.configPath, 'daemon'], { stdio: ['ignore', 'pipe', 'pipe'], env: { UPSHIFT_LOG_LEVEL: 'info' } });
  let logs = '';
  child.stderr!.on('data', (d) => (logs += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const until = Date.now() + WAIT.run;
  let status: string | undefined;
  while (Date.now() < until) {
    const store = openStore(ws.stateDir);
    status = (await store.findRun('testnet', head))?.status;
    store.close();
    if (status === 'completed') break;
    await new Promise((r) => setTimeout(r, 200));
  }
  t.equal(status, 'completed', 'the head of main ran through the pipeline without anyone asking');
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM is a clean stop');
  const lines = logs.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; runId?: string; stage?: string });
  t.ok(lines.some((l) => l.msg === 'authority daemon started'));
  t.ok(lines.some((l) => l.msg === 'stage finished' && l.runId && l.stage === 'sign'), 'JSON logs carry the run id and stage');
  t.ok(lines.some((l) => l.msg === 'stopped'));
});

/** Start a daemon child; resolves with its address once it logged that it started. */
async function startDaemon(t: Tap.Test, configPath: string) {
  const child = spawnChild(t, process.execPath, [CLI_PATH, '--config', configPath, 'daemon'], { stdio: ['ignore', 'pipe', 'pipe'], env: { UPSHIFT_LOG_LEVEL: 'info' } });
  let logs = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const address = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      logs += d;
      const m = /"address":"(http:\/\/[^"]+)"/.exec(logs);
      if (m) resolve(m[1] as string);
    });
    void exited.then((code) => reject(new Error(`daemon exited ${code}: ${logs}`)));
  });
  const stop = async () => {
    child.kill('SIGTERM');
    return exited;
  };
  return { address, stop, logs: () => logs };
}

t.test('a node daemon without a certificate is up but not ready; after `upshift join` it is', async (t) => {
  const repo = gitRepo(t);
  repo.commit('v1', sampleAppFiles({ version: 'v1', latencyMs: 10 }));
  const ws = await createWorkspace(tempDir(t), { source: repo.dir, authority: { poll: '0 0 1 1 *' } });
  const authority = await startDaemon(t, ws.configPath);
  const authReady = await fetch(`${authority.address}/readyz`);
  t.equal(authReady.status, 200, 'the authority certified itself and is ready');

  const { readFileSync, writeFileSync } = await import('node:fs');
  const { parse, stringify } = await import('yaml');
  const nodeDir = tempDir(t);
  const cfg = parse(readFileSync(ws.configPath, 'utf8')) as Record<string, unknown>;
  delete cfg.authority;
  cfg.node = { id: 'edge-1', tracks: ['testnet'], labels: { region: 'eu' } };
  cfg.gossip = { listen: '127.0.0.1:0', seeds: [authority.address] };
  const nodeConfig = `${nodeDir}/upshift.yaml`;
  writeFileSync(nodeConfig, stringify(cfg));

  const first = await startDaemon(t, nodeConfig);
  const notReady = await fetch(`${first.address}/readyz`);
  t.equal(notReady.status, 503);
  t.match(await notReady.json(), { checks: { gossip: /not certified: .*upshift join/ } });
  t.equal(await first.stop(), 0);

  const token = await runCli(['--config', ws.configPath, 'fleet', 'token', '--json']);
  const joined = await runCli(['--config', nodeConfig, 'join', '--authority', authority.address, '--token', token.json<{ token: string }>().token]);
  t.equal(joined.code, 0, 'join succeeded', diag(joined));
  const second = await startDaemon(t, nodeConfig);
  t.equal((await fetch(`${second.address}/readyz`)).status, 200, 'certified: ready');
  t.equal(await second.stop(), 0);

  // a certificate that does not verify: the check names its code and message, and the hint once
  writeFileSync(`${nodeDir}/keys/node.cert`, '{}\n');
  const third = await startDaemon(t, nodeConfig);
  const bad = await fetch(`${third.address}/readyz`);
  t.equal(bad.status, 503);
  const gossip = ((await bad.json()) as { checks: { gossip: string } }).checks.gossip;
  t.match(gossip, /^not certified: E_\w+: \S/, gossip);
  t.equal(gossip.split('upshift join').length - 1, 1, 'the hint once');
  t.equal(await third.stop(), 0);
  t.equal(await authority.stop(), 0);
});
