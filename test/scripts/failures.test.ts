// scripts/ci/failures.ts: what .ci/run prints after a failed run, from tap's saved TAP.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileReport, report } from '../../scripts/ci/failures.js';
import { tempDir } from '../helpers/tmp.js';

const nested = `TAP version 14
# Subtest: outer
    # Subtest: inner
        not ok 1 - one is two
          ---
          found: 1
          wanted: 2
          ...
        ok 2 - fine
        1..2
    not ok 1 - inner # time=3ms
    1..1
not ok 1 - outer # time=4ms
ok 2 - fine
1..2
`;

t.test('a failing assertion is named by its subtest chain, with its diagnostics, once', async (t) => {
  const text = fileReport('a.test.js.tap', nested)!;
  t.match(text, /^# a\.test\.js\.tap\n {2}not ok - outer > inner > one is two\n {4}found: 1\n {4}wanted: 2$/);
  t.equal(text.match(/not ok/g)!.length, 1, 'the subtests that only carry it are left out');
});

t.test('a passing file has no report; a file cut short shows its last lines', async (t) => {
  t.equal(fileReport('ok.tap', 'TAP version 14\nok 1 - fine\n1..1\n'), null);
  const cut = fileReport('cut.tap', 'TAP version 14\n# Subtest: waits\n    ok 1 - started\n')!;
  t.match(cut, /ended without its plan/);
  t.match(cut, /ok 1 - started/);
});

t.test('a directory of saved results is reported in path order, passing files left out', async (t) => {
  const dir = tempDir(t, 'upshift-failures-');
  mkdirSync(join(dir, 'dist', 'b'), { recursive: true });
  writeFileSync(join(dir, 'dist', 'b', 'z.test.js.tap'), nested);
  writeFileSync(join(dir, 'dist', 'a.test.js.tap'), nested);
  writeFileSync(join(dir, 'dist', 'ok.test.js.tap'), 'TAP version 14\nok 1 - fine\n1..1\n');
  const text = report(dir);
  t.match(text, /^# failures: 2 file\(s\)\n# dist\/a\.test\.js\.tap\n[^]*\n# dist\/b\/z\.test\.js\.tap\n/);
  t.notMatch(text, /ok\.test/);
  t.match(report(tempDir(t, 'upshift-failures-')), /^# failures: none in /, 'an empty directory');
});

const group = `TAP version 14
ok 1 - a.test.js # time=4ms
# Subtest: outer
    not ok 1 - one is two
    1..1
not ok 2 - outer # time=3ms
ok 3 - b.test.js # time=1ms
1..3
`;

t.test('in a group\'s output, a failure is named after the file its test came from', async (t) => {
  t.match(fileReport('group.test.js.tap', group), /\n {2}not ok - a\.test\.js: outer > one is two$/);
});
