// kill -9 while a stage's command is running: the restarted driver kills the orphaned
// command, re-runs only that stage, and finishes.
import t from 'tap';
import { crashBed, processGone, waitForFile } from './harness.js';
import { readFileSync } from 'node:fs';

for (const stage of ['build', 'test', 'audit', 'benchmark']) {
  t.test(`killed while the ${stage} command runs, the run resumes and the orphan is reaped`, async (t) => {
    const bed = await crashBed(t);
    let pid = 0;
    const crashed = bed.run({ SAMPLE_HOLD: stage }, (p) => (pid = p));
    await waitForFile(bed.marker);
    const orphan = Number(readFileSync(bed.marker, 'utf8'));
    process.kill(pid, 'SIGKILL');
    t.equal((await crashed).signal, 'SIGKILL');
    t.notOk(processGone(orphan), 'the stage command outlived its driver');
    const resumed = await bed.run({ SAMPLE_HOLD: stage });
    t.equal(resumed.code, 0, resumed.code === 0 ? 'the resumed run exits 0' : resumed.stdout + resumed.stderr);
    t.ok(processGone(orphan), 'the orphaned command was killed on resume');
    const ran = bed.ran();
    const expected: Record<string, number> = { build: 1, test: 1, audit: 1, benchmark: 3 };
    expected[stage] = (expected[stage] ?? 0) + 1;
    t.same(ran, expected, `only ${stage} ran again`);
    const store = bed.store();
    t.equal((await store.listRuns())[0]?.status, 'completed');
    t.equal((await store.manifests.list('testnet')).length, 1);
  });
}
