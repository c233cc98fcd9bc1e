// The rollout driver's timer pass must survive a store that cannot be read (PostgreSQL out of
// reach, a closed file): it logs and tries again, never an unhandled rejection that takes the
// daemon down without a word (seen with a leader cut off from PostgreSQL).
import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger } from '../../src/adapters/logger.js';
import { Store } from '../../src/adapters/sqlite/store.js';
import type { RolloutDeps } from '../../src/stages/rollout.js';
import { DeploymentDriver } from '../../src/runtime/deployment-driver.js';
import { tempDir } from '../helpers/tmp.js';

t.test('a pass whose store read fails is logged, and the next pass runs', async (t) => {
  const lines: string[] = [];
  const log = createLogger({ level: 'warn', destination: new Writable({ write: (c, _e, cb) => { lines.push(String(c)); cb(); } }) });
  const store = Store.open(`${tempDir(t, 'upshift-driver-')}/upshift.db`, () => Date.now());
  store.close(); // every read now throws
  const driver = new DeploymentDriver({ store, log } as unknown as RolloutDeps, 20);
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => { unhandled.push(err); };
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => { process.off('unhandledRejection', onUnhandled); });
  driver.start();
  while (lines.filter((l) => l.includes('deployment pass failed')).length < 2 && unhandled.length === 0) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await driver.stop();
  t.same(unhandled.map(String), [], 'no unhandled rejection');
  t.ok(lines.filter((l) => l.includes('deployment pass failed')).length >= 2, 'each failed pass is logged, and passes go on');
});
