// The TEST gate: pass rate ≥ min_pass_rate. Skipped tests are neither passes nor failures,
// and a suite that ran nothing fails with that reason: nothing is reported as passed that
// did not run.
import type { TestReport } from '../test-report.js';

export interface PassRateDecision {
  pass: boolean;
  /** passed / (passed + failed); null when no test ran. */
  rate: number | null;
  reason: string;
}

export function decidePassRate(report: TestReport | null, minPassRate: number): PassRateDecision {
  if (report === null) {
    return { pass: false, rate: null, reason: 'the test suite reported no results' };
  }
  const ran = report.passed + report.failed;
  if (ran === 0) {
    return { pass: false, rate: null, reason: `no tests ran (${report.skipped} skipped)` };
  }
  const rate = report.passed / ran;
  const pass = rate >= minPassRate;
  const counts = `${report.passed} passed, ${report.failed} failed${report.skipped > 0 ? `, ${report.skipped} skipped` : ''}`;
  return {
    pass,
    rate,
    reason: `pass rate ${formatRate(rate, minPassRate)} (${counts}) ${pass ? '≥' : '<'} min ${minPassRate}`,
  };
}

/** Three decimals, or more when rounding would make a failing rate print as the minimum. */
function formatRate(rate: number, min: number): string {
  let digits = 3;
  while (digits < 8 && rate < min && Number(rate.toFixed(digits)) >= min) digits++;
  return rate.toFixed(digits);
}
