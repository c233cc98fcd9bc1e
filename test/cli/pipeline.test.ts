// `upshift pipeline ...` as an operator runs it: exit codes, JSON, and bad input that
// leaves the store exactly as it was.
import t from 'tap';
import { chmodSync, renameSync, writeFileSync, readFileSync } from 'node:fs';
import { sampleAppFiles } from '../../scripts/demo/sample-app.js';
import { createWorkspace, type Workspace } from '../../scripts/demo/workspace.js';
import { openStore } from '../../src/runtime/deps.js';
import { runCli, diag } from '../helpers/cli.js';
import { gitRepo, type GitRepo } from '../helpers/gitdir.js';
import { tempDir } from '../helpers/tmp.js';

async function bed(t: Tap.Test, authority?: Record<string, unknown>): Promise<{ repo: GitRepo; ws: Workspace; cli: (...args: string[]) => ReturnType<typeof runCli>; counts: () => Promise<{ runs: number; events: number }> }> {
  const repo = gitRepo(t);
  repo.commit('v1', sampleAppFiles({ version: 'v1', latencyMs: 10 }));
  const ws = await createWorkspace(tempDir(t, 'upshift-cli-'), { source: repo.dir, ...(authority ? { authority } : {}) });
  const cli = (...args: string[]) => runCli(['--config', ws.configPath, ...args], { timeoutMs: 120_000 });
  const counts = async () => {
    const store = openStore(ws.stateDir);
    try {
      return { runs: (await store.listRuns({ limit: 1000 })).length, events: (await store.events({ limit: 100000 })).length };
    } finally {
      store.close();
    }
  };
  return { repo, ws, cli, counts };
}

t.test('pipeline run completes with exit 0 and --json shows every stage', async (t) => {
  const b = await bed(t);
  const r = await b.cli('pipeline', 'run', '--ref', 'main', '--json');
  t.equal(r.code, 0, 'exit 0', diag(r));
  const out = r.json<{ ok: boolean; run: { status: string }; stages: Array<{ stage: string }> }>();
  t.equal(out.ok, true);
  t.equal(out.run.status, 'completed');
  t.equal(out.stages.length, 7);
  const again = await b.cli('pipeline', 'run', '--ref', 'main', '--json');
  t.equal(again.json<{ run: { id: string } }>().run.id, (out.run as unknown as { id: string }).id, 'the same version is not run again');
  const show = await b.cli('pipeline', 'show', (out.run as unknown as { id: string }).id);
  t.match(show.stdout, /✓ sign\s+passed/);
  const hist = await b.cli('pipeline', 'history', '--json');
  t.equal(hist.json<{ runs: unknown[] }>().runs.length, 1);
  const status = await b.cli('status', '--json');
  t.equal(status.json<{ tracks: { testnet: { manifest: { seq: number } } } }>().tracks.testnet.manifest.seq, 1, 'held for the daemon to gossip');
});

t.test('a benchmark regression exits 3 (stopped by a gate)', async (t) => {
  const b = await bed(t);
  t.equal((await b.cli('pipeline', 'run', '--ref', 'main')).code, 0);
  b.repo.commit('slow', sampleAppFiles({ version: 'v2', latencyMs: 20 }));
  const r = await b.cli('pipeline', 'run', '--ref', 'main');
  t.equal(r.code, 3, 'exit 3', diag(r));
  t.match(r.stdout, /↩ benchmark\s+rolled_back/);
});

t.test('a test command that hangs is killed at its timeout: exit 3 with E_TIMEOUT', async (t) => {
  const b = await bed(t, { test: { command: 'sleep 60', timeout: '1s' } });
  const r = await b.cli('pipeline', 'run', '--ref', 'main', '--json');
  t.equal(r.code, 3, 'exit 3', diag(r));
  t.equal(r.json<{ run: { code: string } }>().run.code, 'E_TIMEOUT');
});

t.test('bad input gets its code and leaves the store as it was', async (t) => {
  const b = await bed(t);
  t.equal((await b.cli('pipeline', 'run', '--ref', 'main')).code, 0);
  const before = await b.counts();

  const unknown = await b.cli('pipeline', 'run', '--ref', 'no-such-ref');
  t.equal(unknown.code, 2, 'unknown ref exits 2', diag(unknown));
  t.match(unknown.stderr, /E_UNKNOWN_REF/);
  t.same(await b.counts(), before, 'unknown ref changed nothing');

  chmodSync(b.ws.keyPath, 0o644);
  const perms = await b.cli('pipeline', 'run', '--ref', 'main~0');
  t.equal(perms.code, 2, diag(perms));
  t.match(perms.stderr, /E_KEY_PERMS/);
  chmodSync(b.ws.keyPath, 0o600);

  renameSync(b.ws.keyPath, `${b.ws.keyPath}.gone`);
  const missing = await b.cli('pipeline', 'start', '--ref', 'main');
  t.equal(missing.code, 2, diag(missing));
  t.match(missing.stderr, /E_KEY_MISSING/);
  renameSync(`${b.ws.keyPath}.gone`, b.ws.keyPath);
  t.same(await b.counts(), before, 'key problems changed nothing');

  const good = readFileSync(b.ws.configPath, 'utf8');
  writeFileSync(b.ws.configPath, good.replace('min_pass_rate: 0.95', 'min_pass_rate: 1.5').replace('fleet: demo', 'fleet: Demo Fleet').replace('timeout: 1m', 'timeout: soon'));
  const config = await b.cli('pipeline', 'run', '--ref', 'main');
  t.equal(config.code, 2, diag(config));
  t.match(config.stderr, /E_CONFIG: .* has 3 problems:/);
  t.match(config.stderr, /fleet: expected lowercase/);
  t.match(config.stderr, /authority\.test\.min_pass_rate/);
  t.match(config.stderr, /authority\.build\.timeout: expected a duration like 30s/);
  writeFileSync(b.ws.configPath, good);
  t.same(await b.counts(), before, 'a config error changed nothing');

  const noRun = await b.cli('pipeline', 'show', 'r-nope', '--json');
  t.equal(noRun.code, 2);
  t.equal(noRun.json<{ error: { code: string } }>().error.code, 'E_RUN_NOT_FOUND');
  const usage = await b.cli('pipeline', 'run');
  t.equal(usage.code, 2, 'a missing required option is a usage error');
});

t.test('pipeline start creates a pending run; advance drives it one stage at a time', async (t) => {
  const b = await bed(t);
  const start = await b.cli('pipeline', 'start', '--ref', 'main', '--json');
  const id = start.json<{ run: { id: string; status: string } }>().run.id;
  t.equal(start.json<{ run: { status: string } }>().run.status, 'pending');
  const one = await b.cli('pipeline', 'advance', id, '--json');
  t.equal(one.json<{ run: { stage: string } }>().run.stage, 'testing', 'build ran, the run waits at testing');
  const rollback = await b.cli('pipeline', 'rollback', id, '--reason', 'changed my mind', '--json');
  t.equal(rollback.code, 0, diag(rollback));
  const run = rollback.json<{ run: { status: string; reason: string } }>().run;
  t.equal(run.status, 'rolled_back');
  t.match(run.reason, /aborted by cli:.*: changed my mind/);
});

t.test('with no sandbox user configured, pipeline run and the daemon refuse with E_SANDBOX and create nothing', async (t) => {
  const b = await bed(t, { sandbox: {} });
  const run = await b.cli('pipeline', 'run', '--ref', 'main');
  t.equal(run.code, 2, diag(run));
  t.match(run.stderr, /E_SANDBOX: authority\.sandbox\.user is not set/);
  t.same(await b.counts(), { runs: 0, events: 0 }, 'no run was created');
  const daemon = await b.cli('daemon');
  t.equal(daemon.code, 2, 'the daemon does not start', diag(daemon));
  t.match(daemon.stderr, /E_SANDBOX/);
});
