// `upshift deployment …` from the built CLI (issue 12): bad input is a coded error with its
// exit code and changes nothing but the audit trail, which records the refusal and who asked.
import t from 'tap';
import { createWorkspace } from '../../scripts/demo/workspace.js';
import { sampleAppFiles } from '../../scripts/demo/sample-app.js';
import { loadConfig } from '../../src/runtime/config-load.js';
import { openStore } from '../../src/runtime/deps.js';
import { runCli } from '../helpers/cli.js';
import { gitRepo } from '../helpers/gitdir.js';
import { tempDir } from '../helpers/tmp.js';

t.test('bad input: a coded error, exit 2 or 1, nothing created; every attempt audited', async (t) => {
  const repo = gitRepo(t);
  repo.commit('v1', sampleAppFiles({ version: 'v1', latencyMs: 10 }));
  const ws = await createWorkspace(tempDir(t, 'upshift-ws-'), { source: repo.dir });
  const cli = (...args: string[]) => runCli(['--config', ws.configPath, 'deployment', ...args, '--json']);
  const cases: Array<[string[], number, string, RegExp?]> = [
    [['deploy', 'testnet', '--version', 'v1', '--strategy', 'yolo'], 2, 'E_DEPLOY_POLICY', /unknown strategy "yolo"/],
    [['deploy', 'testnet', '--version', 'v1', '--auto-revert', '--no-auto-revert'], 2, 'E_DEPLOY_POLICY', /contradict/],
    [['deploy', 'testnet', '--version', 'v1', '--max-parallel', '0'], 2, 'E_DEPLOY_POLICY', /at least 1/],
    [['deploy', 'testnet', '--version', 'v1', '--canary', '2'], 2, 'E_DEPLOY_POLICY', /needs strategy canary/],
    [['deploy', 'nope', '--version', 'v1'], 2, 'E_DEPLOY_NOT_FOUND', /unknown deployment key "nope"/],
    [['deploy', 'testnet', '--version', 'v1'], 2, 'E_DEPLOY_NOT_FOUND', /no run of v1/],
    [['resume', 'testnet'], 2, 'E_DEPLOY_NOT_FOUND'],
    [['promote', 'dep-nothing'], 2, 'E_DEPLOY_NOT_FOUND'],
    [['rollback', 'testnet', '--version', 'latest', '--reason', 'x'], 2, 'E_USAGE'],
    [['rollback', 'testnet', '--version', '3', '--reason', 'x'], 2, 'E_DEPLOY_NOT_FOUND'],
  ];
  for (const [args, code, err, message] of cases) {
    const r = await cli(...args);
    t.equal(r.code, code, `${args.join(' ')}: exit ${code}`);
    const body = r.json<{ ok: boolean; error: { code: string; message: string } }>();
    t.match(body, { ok: false, error: { code: err } }, args.join(' '));
    if (message) t.match(body.error.message, message);
  }
  const list = await cli('list');
  t.equal(list.code, 0);
  t.same(list.json<{ deployments: unknown[] }>().deployments, [], 'nothing was created');
  const store = openStore(loadConfig(ws.configPath).config.state_dir);
  t.teardown(() => store.close());
  const audit = await store.deployments.allEvents();
  t.equal(audit.filter((e) => e.outcome === 'refused').length, 8, 'each refused control action is in the audit trail (not the two the CLI refused while parsing)');
  t.ok(audit.every((e) => e.actor.startsWith('cli:')), 'with who asked');
});
