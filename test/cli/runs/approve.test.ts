// `upshift pipeline approve` on a run that failed its audit: one approval, one retry, even
// when two operators (two processes) approve at the same instant.
import t from 'tap';
import { sampleAppFiles } from '../../../scripts/demo/sample-app.js';
import { createWorkspace } from '../../../scripts/demo/workspace.js';
import { openStore } from '../../../src/runtime/deps.js';
import { diag, runCli } from '../../helpers/cli.js';
import { gitRepo } from '../../helpers/gitdir.js';
import { tempDir } from '../../helpers/tmp.js';

t.test('two approvals of one failed run at once make one retry, and a later one says it exists', async (t) => {
  const repo = gitRepo(t);
  repo.commit('v1', sampleAppFiles({ version: 'v1', latencyMs: 10 }));
  const ws = await createWorkspace(tempDir(t, 'upshift-approve-'), { source: repo.dir });
  const cli = (...args: string[]) => runCli(['--config', ws.configPath, ...args], { timeoutMs: 120_000 });
  t.equal((await cli('pipeline', 'run', '--ref', 'main')).code, 0, 'a first stable release');
  repo.commit('touch the protected hook', { 'stage.sh': `${repo.git('show', 'HEAD:stage.sh')}\n# changed\n` });
  const failed = await cli('pipeline', 'run', '--ref', 'main', '--json');
  t.equal(failed.code, 3, 'the audit stops it', diag(failed));
  const runId = failed.json<{ run: { id: string } }>().run.id;

  const both = await Promise.all([
    cli('pipeline', 'approve', runId, '--reason', 'reviewed by alice', '--json'),
    cli('pipeline', 'approve', runId, '--reason', 'reviewed by bob', '--json'),
  ]);
  for (const r of both) t.equal(r.code, 0, 'each approval exits 0', diag(r));
  const answers = both.map((r) => r.json<{ retry: boolean; created: boolean; run: { id: string; retryOf: string } }>());
  t.equal(answers[0]?.run.id, answers[1]?.run.id, 'both answer with the same retry');
  t.same(answers.map((a) => a.created).sort(), [false, true], 'one made it, the other found it');
  t.equal(answers[0]?.run.retryOf, runId);

  const store = openStore(ws.stateDir);
  const retries = async () => (await store.listRuns({ limit: 100 })).filter((r) => r.retryOf === runId);
  const events = async () => (await store.events({ limit: 10_000 })).length;
  try {
    t.equal((await retries()).length, 1, 'one retry in the store');
    const before = await events();
    const again = await cli('pipeline', 'approve', runId, '--reason', 'once more');
    t.equal(again.code, 0, diag(again));
    t.match(again.stdout, new RegExp(`already approved: ${runId} has its one retry ${answers[0]?.run.id} \\(pending\\)`));
    t.equal((await retries()).length, 1, 'still one retry');
    t.equal(await events(), before, 'and nothing recorded');
  } finally {
    store.close();
  }

  const driven = await cli('pipeline', 'advance', answers[0]!.run.id, '--json');
  t.equal(driven.code, 0, diag(driven));
  const run = await cli('pipeline', 'run', '--ref', 'main', '--json');
  t.equal(run.json<{ run: { id: string; status: string } }>().run.id, answers[0]?.run.id, 'the version\'s run is the retry');
  t.equal(run.json<{ run: { status: string } }>().run.status, 'completed');
  const check = openStore(ws.stateDir);
  try {
    const releases = (await check.manifests.list('testnet')).filter((m) => m.purpose === 'release' && m.commit === repo.head());
    t.equal(releases.length, 1, 'one release manifest for the commit');
  } finally {
    check.close();
  }
});
