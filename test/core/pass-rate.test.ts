import t from 'tap';
import { decidePassRate } from '../../src/core/decisions/pass-rate.js';
import type { TestReport } from '../../src/core/test-report.js';

const counts = (passed: number, failed: number, skipped = 0): TestReport => ({
  format: 'summary', passed, failed, skipped, total: passed + failed + skipped, failures: [],
});

interface Case {
  name: string;
  report: TestReport | null;
  min: number;
  pass: boolean;
  rate: number | null;
  reason: string;
}

const cases: Case[] = [
  { name: 'a suite that reported nothing fails', report: null, min: 0.95, pass: false, rate: null, reason: 'the test suite reported no results' },
  { name: 'zero tests run fails rather than scoring 0/0', report: counts(0, 0), min: 0.95, pass: false, rate: null, reason: 'no tests ran (0 skipped)' },
  { name: 'only skipped tests is no tests run', report: counts(0, 0, 12), min: 0, pass: false, rate: null, reason: 'no tests ran (12 skipped)' },
  { name: 'all passing passes', report: counts(40, 0), min: 0.95, pass: true, rate: 1, reason: 'pass rate 1.000 (40 passed, 0 failed) ≥ min 0.95' },
  { name: '97 of 100 passes a 0.95 minimum', report: counts(97, 3), min: 0.95, pass: true, rate: 0.97, reason: 'pass rate 0.970 (97 passed, 3 failed) ≥ min 0.95' },
  { name: 'exactly the minimum passes', report: counts(95, 5), min: 0.95, pass: true, rate: 0.95, reason: 'pass rate 0.950 (95 passed, 5 failed) ≥ min 0.95' },
  { name: 'just under the minimum fails', report: counts(94, 6), min: 0.95, pass: false, rate: 0.94, reason: 'pass rate 0.940 (94 passed, 6 failed) < min 0.95' },
  {
    name: 'a rate that would round up to the minimum prints enough digits to show it is below',
    report: counts(9499, 501),
    min: 0.95,
    pass: false,
    rate: 0.9499,
    reason: 'pass rate 0.9499 (9499 passed, 501 failed) < min 0.95',
  },
  { name: 'skipped tests do not count against the rate', report: counts(19, 1, 30), min: 0.95, pass: true, rate: 0.95, reason: 'pass rate 0.950 (19 passed, 1 failed, 30 skipped) ≥ min 0.95' },
  { name: 'all failing fails', report: counts(0, 7), min: 0.5, pass: false, rate: 0, reason: 'pass rate 0.000 (0 passed, 7 failed) < min 0.5' },
  { name: 'a minimum of 1 needs every test to pass', report: counts(999, 1), min: 1, pass: false, rate: 0.999, reason: 'pass rate 0.999 (999 passed, 1 failed) < min 1' },
  { name: 'a minimum of 0 accepts any suite that ran', report: counts(0, 3), min: 0, pass: true, rate: 0, reason: 'pass rate 0.000 (0 passed, 3 failed) ≥ min 0' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const got = decidePassRate(c.report, c.min);
    t.equal(got.pass, c.pass);
    t.equal(got.rate, c.rate);
    t.equal(got.reason, c.reason);
  });
}
