// A driver killed between starting a stage command and storing its process group leaves a
// command nothing records: the next driver of the run finds it by its UPSHIFT_RUN_ID and
// kills its group, and leaves every other process alone.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { killGroup, processAlive, runningProcesses } from '../../src/adapters/exec.js';
import { createLogger } from '../../src/adapters/logger.js';
import { openStore } from '../../src/runtime/deps.js';
import { reapStrayCommands } from '../../src/runtime/reap.js';
import { processGone, spawnChild, waitGone } from '../helpers/procs.js';
import { poll, WAIT } from '../helpers/timeouts.js';
import { tempDir } from '../helpers/tmp.js';

t.test('an unrecorded command of the run is killed, with its group; another run\'s is not', async (t) => {
  const store = openStore(tempDir(t));
  t.teardown(() => store.close());
  t.same(await store.strayPids('r-crashed'), [], 'nothing recorded');
  // a stage command as exec.ts starts one: a group of its own, here with a child of its own
  const orphan = spawnChild(t, 'sh', ['-c', 'sleep 60 & wait'], { env: { UPSHIFT_RUN_ID: 'r-crashed' }, stdio: 'ignore' });
  const other = spawnChild(t, 'sleep', ['60'], { env: { UPSHIFT_RUN_ID: 'r-other' }, stdio: 'ignore' });
  const log = createLogger({ level: 'silent' });
  // both exec'd: their environment is the marked one
  const environ = (pid: number) => { try { return readFileSync(`/proc/${pid}/environ`, 'latin1'); } catch { return ''; } };
  for (const [c, mark] of [[orphan, 'r-crashed'], [other, 'r-other']] as const) {
    await poll(() => environ(c.pid!), (e) => e.includes(`UPSHIFT_RUN_ID=${mark}`), WAIT.cli, 20);
  }

  const killed = await reapStrayCommands(store, 'r-crashed', { alive: processAlive, kill: killGroup, log, processes: runningProcesses });
  t.equal(killed, 1, 'one group');
  await waitGone(orphan.pid!, WAIT.cli);
  t.ok(processGone(orphan.pid!), 'the orphan is gone');
  t.ok(processAlive(other.pid!), 'another run\'s command runs on');
  t.ok(processAlive(process.pid), 'and so does the driver');
});
