// After v10.0.0 is released, v2.0.0 is not an upgrade: `pipeline run|start` refuse it with
// E_DOWNGRADE, naming the newest release and pointing at a rollback, and change nothing.
import t from 'tap';
import { sampleAppFiles } from '../../../scripts/demo/sample-app.js';
import { createWorkspace } from '../../../scripts/demo/workspace.js';
import { openStore } from '../../../src/runtime/deps.js';
import { diag, runCli } from '../../helpers/cli.js';
import { gitRepo } from '../../helpers/gitdir.js';
import { tempDir } from '../../helpers/tmp.js';

t.test('an older tag after a newer release is refused with E_DOWNGRADE and nothing is signed', async (t) => {
  const repo = gitRepo(t);
  repo.commit('v2', sampleAppFiles({ version: 'v2.0.0', latencyMs: 10 }));
  repo.tag('v2.0.0');
  repo.commit('v10', sampleAppFiles({ version: 'v10.0.0', latencyMs: 10 }));
  repo.tag('v10.0.0');
  const ws = await createWorkspace(tempDir(t, 'upshift-downgrade-'), { source: repo.dir });
  const cli = (...args: string[]) => runCli(['--config', ws.configPath, ...args], { timeoutMs: 120_000 });
  const released = await cli('pipeline', 'run', '--ref', 'v10.0.0');
  t.equal(released.code, 0, 'v10.0.0 is released', diag(released));

  const store = () => openStore(ws.stateDir);
  const counts = async () => {
    const s = store();
    try {
      return { runs: (await s.listRuns({ limit: 1000 })).length, manifests: (await s.manifests.list('production')).length, events: (await s.events({ limit: 100_000 })).length };
    } finally {
      s.close();
    }
  };
  const before = await counts();
  const run = await cli('pipeline', 'run', '--ref', 'v2.0.0', '--json');
  t.equal(run.code, 2, 'refused before any stage ran', diag(run));
  const err = run.json<{ ok: boolean; error: { code: string; message: string; details: Record<string, string> } }>().error;
  t.equal(err.code, 'E_DOWNGRADE');
  t.match(err.message, /v2\.0\.0 is older than v10\.0\.0, the newest version released on production/);
  t.match(err.message, /roll back instead: `upshift pipeline rollback RUN`.*rollback manifest/);
  t.same(err.details, { track: 'production', version: 'v2.0.0', newest: 'v10.0.0' });
  const start = await cli('pipeline', 'start', '--ref', 'v2.0.0');
  t.equal(start.code, 2, diag(start));
  t.match(start.stderr, /upshift: E_DOWNGRADE: v2\.0\.0 is older than v10\.0\.0/);
  t.same(await counts(), before, 'no run, no manifest, no event');
});
