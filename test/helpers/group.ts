// One process for every test file of a directory: its `group.test.ts` calls runGroup. A
// process of its own costs a file about 0.55 s of CPU before its first test (tap's
// processinfo hook and the relay in reaper.mjs, node, tap itself): a sixth of the suite's CPU
// when each of its ~180 files had one. The files run one after another, each one's tests
// finished before the next is imported, and each still runs alone:
// `npx tap dist/test/core/config.test.js`. `.taprc` keeps grouped files out of tap's own
// list; test/suite/groups.test.ts checks that every file runs exactly once.
import { readdirSync } from 'node:fs';
import t from 'tap';

export const GROUP_FILE = 'group.test.js';

/** The test files a group at `dirUrl` runs, in name order. */
export function groupMembers(dirUrl: string | URL): string[] {
  return readdirSync(new URL('.', dirUrl)).filter((f) => f.endsWith('.test.js') && f !== GROUP_FILE).sort();
}

type Sub = { once(event: 'complete', fn: () => void): unknown };

/**
 * Import every test file beside the group file at `groupUrl`, each inside a subtest named
 * after it that ends once the file's own tests have run. Those attach to the top level, as
 * they do when the file runs alone.
 *
 * Two slots at the top level: the file's subtest in one, its tests one at a time in the
 * other. So a file may await its own tests at its top level, and the top level is never
 * idle between files (tap ends it at its first idle moment once a file has registered a
 * top-level teardown, as the PostgreSQL contract helper does).
 */
export async function runGroup(groupUrl: string): Promise<void> {
  t.jobs = 2;
  for (const file of groupMembers(groupUrl)) {
    await t.test(file, { buffered: true }, async () => {
      const tests: Array<Promise<void>> = [];
      const track = (sub: Sub) => tests.push(new Promise((resolve) => sub.once('complete', () => resolve())));
      t.on('subtestAdd', track);
      try {
        await import(new URL(file, groupUrl).href);
        // a file that sets its own parallelism would run its tests beside each other
        if (t.jobs !== 2) throw new Error(`${file} sets t.jobs: a file that runs its tests in parallel needs a process of its own (take its directory out of the groups in .taprc)`);
      } finally {
        // even after a failed import: the tests it added run before the next file loads.
        // One by one: a test may add another.
        for (let i = 0; i < tests.length; i++) await tests[i];
        t.off('subtestAdd', track);
      }
    });
  }
}
