// The reaper (test/helpers/reaper.mjs): a test process that is SIGKILLed, as tap does on a
// timeout, leaves nothing behind: not its daemon, not the stage command the daemon runs as
// the build user, not an app a restart command started in a session of its own.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { APP_CTL, APP_CTL_FILE } from '../../scripts/demo/app-ctl.js';
import { sampleAppFiles } from '../../scripts/demo/sample-app.js';
import { createWorkspace, localSandbox } from '../../scripts/demo/workspace.js';
import { gitRepo } from '../helpers/gitdir.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { PROCESS_SCOPE_VAR, processGone, spawnChild, waitGone } from '../helpers/procs.js';
import { WAIT } from '../helpers/timeouts.js';
import { tempDir } from '../helpers/tmp.js';

// the fixture next to this file, as .ts or as compiled .js alike
const FIXTURE = fileURLToPath(import.meta.url).replace(/reaper\.test\.(\w+)$/, 'reaper-fixture.$1');

t.test('a SIGKILLed test process leaves none of the processes it started running', async (t) => {
  const repo = gitRepo(t);
  repo.commit('v1', sampleAppFiles({ version: 'v1', latencyMs: 10 }));
  const sandbox = localSandbox(['SAMPLE_HOLD', 'SAMPLE_HOLD_MARKER']);
  const ws = await createWorkspace(tempDir(t, 'upshift-reaper-'), { source: repo.dir, authority: { sandbox, poll: '0 0 1 1 *' } });
  const shared = join(ws.dir, 'shared'); // the build user writes the hold marker here
  mkdirSync(shared);
  chmodSync(shared, 0o777);
  const dir = tempDir(t, 'upshift-reaper-node-');
  const appDir = join(dir, 'node', 'app');
  mkdirSync(join(appDir, 'current'), { recursive: true });
  writeFileSync(join(appDir, 'current', 'app.js'), 'setInterval(() => undefined, 1 << 30);\n');
  const appCtl = join(dir, 'node', APP_CTL_FILE);
  writeFileSync(appCtl, APP_CTL);

  // a scope of its own (no mark inherited from this test), so only its own watchdog can help
  const fixture = spawnChild(t, process.execPath, [...process.execArgv, FIXTURE, ws.configPath, join(shared, 'hold'), appCtl, appDir], {
    cwd: REPO_ROOT,
    env: { [PROCESS_SCOPE_VAR]: undefined },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const line = await new Promise<string>((resolve, reject) => {
    fixture.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0] as string);
    });
    fixture.once('exit', (code) => reject(new Error(`the fixture exited (${code}) before it was ready`)));
    setTimeout(() => reject(new Error('the fixture was not ready in time')), WAIT.run).unref();
  });
  const pids = JSON.parse(line) as Record<string, number>;
  // if the reaper fails, do not leave the evidence running either
  t.teardown(() => Object.values(pids).forEach((pid) => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }));
  for (const [name, pid] of Object.entries(pids)) t.notOk(processGone(pid), `the ${name} (${pid}) runs`);

  fixture.kill('SIGKILL');
  for (const [name, pid] of Object.entries(pids)) {
    await waitGone(pid, WAIT.reap).catch(() => undefined);
    t.ok(processGone(pid), `the ${name} (${pid}) is gone after its test process was killed`);
  }
});
