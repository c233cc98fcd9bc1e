import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_FAILURE_NAMES, parseTestReport, type TestReport } from '../../src/core/test-report.js';
import { tempDir } from '../helpers/tmp.js';

const TAP_WITH_SUBTEST = `TAP version 14
# Subtest: parser
    ok 1 - reads a header
    not ok 2 - rejects a bad header
      ---
      found: 1
      wanted: 2
      ...
    ok 3 - streams # SKIP not on this platform
    1..3
not ok 1 - parser
ok 2 - formats durations
not ok 3 - loads config
ok 4 - retries # TODO flaky upstream
ok 5 - signs # SKIP no key
1..5
# failed 2 of 5 tests
`;

const JUNIT = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="all" tests="7" failures="1" errors="1" skipped="1">
  <testsuite name="api" tests="3">
    <testcase classname="api.Auth" name="rejects a bad token"><failure message="expected 401">stack</failure></testcase>
    <testcase classname="api.Auth" name="accepts a good token"/>
    <testcase classname="api.Auth" name="refreshes"><skipped/></testcase>
  </testsuite>
  <testsuite name="db">
    <testsuite name="db.migrations">
      <testcase classname="db.Migrate" name="applies in order" time="0.1"/>
      <testcase classname="db.Migrate" name="rolls back"><error type="Crash">boom</error></testcase>
    </testsuite>
    <testcase name="connects"/>
  </testsuite>
  <testsuite name="cli" tests="1"><testcase classname="cli" name="prints help &amp; exits"/></testsuite>
</testsuites>
`;

interface Case {
  name: string;
  text: string;
  format?: 'auto' | 'tap' | 'junit' | 'summary';
  want: Omit<TestReport, 'failures'> & { failures?: string[] } | null;
}

const cases: Case[] = [
  {
    name: 'TAP counts top-level points and names the failing subtest, not only its parent',
    text: TAP_WITH_SUBTEST,
    want: { format: 'tap', passed: 1, failed: 2, skipped: 2, total: 5, failures: ['parser > rejects a bad header', 'loads config'] },
  },
  { name: 'TAP is recognised by its ok lines alone', text: 'ok 1 - a\nok 2 - b\nnot ok 3 - c\n', want: { format: 'tap', passed: 2, failed: 1, skipped: 0, total: 3, failures: ['c'] } },
  {
    name: 'TAP surrounded by npm chatter still parses',
    text: '> app@1.0.0 test\n> node --test\n\nTAP version 13\nok 1 - a\nnot ok 2 - b # TODO later\n1..2\nnpm notice done\n',
    want: { format: 'tap', passed: 1, failed: 0, skipped: 1, total: 2, failures: [] },
  },
  {
    name: 'a TAP stream that stops early counts the tests it never ran as failed',
    text: '1..4\nok 1 - a\nok 2 - b\n',
    want: { format: 'tap', passed: 2, failed: 2, skipped: 0, total: 4, failures: ['2 planned tests did not run'] },
  },
  {
    name: 'a TAP bail out is a failure',
    text: 'ok 1 - a\nBail out! database unreachable\n',
    want: { format: 'tap', passed: 1, failed: 1, skipped: 0, total: 2, failures: ['Bail out! database unreachable'] },
  },
  { name: 'a TAP skip-all plan is a report of zero tests, not nothing', text: '1..0 # SKIP no display\n', want: { format: 'tap', passed: 0, failed: 0, skipped: 0, total: 0, failures: [] } },
  { name: 'an unnamed failing TAP point is named by its number', text: '1..2\nok 1\nnot ok 2\n', want: { format: 'tap', passed: 1, failed: 1, skipped: 0, total: 2, failures: ['test 2'] } },
  {
    name: 'JUnit sums nested suites; failures and errors fail, skipped is skipped',
    text: JUNIT,
    want: { format: 'junit', passed: 4, failed: 2, skipped: 1, total: 7, failures: ['api.Auth.rejects a bad token', 'db.Migrate.rolls back'] },
  },
  {
    name: 'a single JUnit testsuite root without an XML declaration',
    text: '<testsuite name="x"><testcase name="one"/><testcase name="two"><failure/></testcase></testsuite>',
    want: { format: 'junit', passed: 1, failed: 1, skipped: 0, total: 2, failures: ['two'] },
  },
  {
    name: 'JUnit printed to stdout between other lines',
    text: 'running...\n<testsuites><testsuite name="s"><testcase classname="k" name="t"/></testsuite></testsuites>\ndone in 3s\n',
    want: { format: 'junit', passed: 1, failed: 0, skipped: 0, total: 1, failures: [] },
  },
  { name: 'truncated JUnit XML reports nothing', text: '<testsuites><testsuite name="s"><testcase name="a"/>', want: null },
  { name: 'the summary line is read', text: 'building\n97 passed, 3 failed\n', want: { format: 'summary', passed: 97, failed: 3, skipped: 0, total: 100, failures: [] } },
  {
    name: 'the last summary line wins and may count skips',
    text: 'shard 1: 10 passed, 0 failed\nshard 2: 5 passed, 1 failed\nTotal: 15 passed, 1 failed, 4 skipped\n',
    want: { format: 'summary', passed: 15, failed: 1, skipped: 4, total: 20, failures: [] },
  },
  { name: 'garbage reports nothing', text: 'Segmentation fault (core dumped)\n', want: null },
  { name: 'empty output reports nothing', text: '', want: null },
  { name: 'an explicit TAP format on non-TAP output reports nothing', text: '3 passed, 0 failed\n', format: 'tap', want: null },
  { name: 'an explicit JUnit format on TAP reports nothing', text: 'ok 1 - a\n1..1\n', format: 'junit', want: null },
  { name: 'an explicit summary format ignores TAP lines', text: 'ok 1 - a\n1..1\nSummary: 1 passed, 0 failed\n', format: 'summary', want: { format: 'summary', passed: 1, failed: 0, skipped: 0, total: 1, failures: [] } },
  { name: 'XML that is not JUnit reports nothing', text: '<testsuite-config/>', format: 'junit', want: null },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const got = parseTestReport(c.text, c.format ?? 'auto');
    if (c.want === null) {
      t.equal(got, null);
      return;
    }
    t.ok(got, 'a report');
    t.same({ ...got, failures: got?.failures }, { ...c.want, failures: c.want.failures ?? [] });
  });
}

t.test('failure names are capped while the counts stay exact', async (t) => {
  const lines = Array.from({ length: 120 }, (_, i) => `not ok ${i + 1} - case ${i + 1}`);
  const got = parseTestReport(`${lines.join('\n')}\n1..120\n`, 'tap');
  t.equal(got?.failed, 120);
  t.equal(got?.failures.length, MAX_FAILURE_NAMES);
  t.equal(got?.failures[0], 'case 1');
});

t.test('JUnit wins auto-detection even when the XML contains ok lines', async (t) => {
  const got = parseTestReport('<testsuite name="s">\nok\n<testcase name="a"/></testsuite>', 'auto');
  t.equal(got?.format, 'junit');
});

t.test('real node:test TAP output: a failing case inside a describe is named and counted once', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'm.test.mjs'), `import { describe, it, test } from 'node:test';
import assert from 'node:assert';
describe('math', () => {
  it('adds', () => assert.equal(1 + 1, 2));
  it('subtracts', () => assert.equal(2 - 1, 0));
});
test('top ok', () => {});
test('later', { skip: 'not yet' }, () => {});
`);
  const run = spawnSync(process.execPath, ['--test', '--test-reporter=tap', 'm.test.mjs'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  t.equal(run.status, 1, 'the suite itself failed');
  const got = parseTestReport(run.stdout, 'auto');
  t.same(got, { format: 'tap', passed: 1, failed: 1, skipped: 1, total: 3, failures: ['math > subtracts'] });
});
