// `upshift daemon` on the authority: it catches up at start (runs the current head),
// and SIGTERM stops it cleanly with the state persisted.
import t from 'tap';
import { spawn } from 'node:child_process';
import { sampleAppFiles } from '../../src/demo/sample-app.js';
import { createWorkspace } from '../../src/demo/workspace.js';
import { openStore } from '../../src/runtime/deps.js';
import { CLI_PATH } from '../helpers/cli.js';
import { gitRepo } from '../helpers/gitdir.js';
import { tempDir } from '../helpers/tmp.js';

t.test('the authority daemon runs the new head at start and exits 0 on SIGTERM', async (t) => {
  const repo = gitRepo(t);
  const head = repo.commit('v1', sampleAppFiles({ version: 'v1', latencyMs: 10 }));
  const ws = await createWorkspace(tempDir(t), { source: repo.dir, authority: { poll: '0 0 1 1 *' } });
  const child = spawn(process.execPath, [CLI_PATH, '--config', ws.configPath, 'daemon'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, UPSHIFT_LOG_LEVEL: 'info' } });
  let logs = '';
  child.stderr.on('data', (d) => (logs += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const until = Date.now() + 60_000;
  let status: string | undefined;
  while (Date.now() < until) {
    const store = openStore(ws.stateDir);
    status = store.findRun('testnet', head)?.status;
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

t.test('a non-authority daemon says the node agent is not implemented yet (exit 1)', async (t) => {
  const repo = gitRepo(t);
  repo.commit('v1', sampleAppFiles({ version: 'v1', latencyMs: 10 }));
  const ws = await createWorkspace(tempDir(t), { source: repo.dir });
  const { readFileSync, writeFileSync } = await import('node:fs');
  const { parse, stringify } = await import('yaml');
  const cfg = parse(readFileSync(ws.configPath, 'utf8')) as Record<string, unknown>;
  delete cfg.authority;
  cfg.node = { id: 'edge-1', tracks: ['testnet'] };
  writeFileSync(ws.configPath, stringify(cfg));
  const child = spawn(process.execPath, [CLI_PATH, '--config', ws.configPath, 'daemon'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.equal(code, 1);
  t.match(err, /E_NOT_IMPLEMENTED: the node agent/);
});
