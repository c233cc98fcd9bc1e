// What a regression suite reported, from TAP, JUnit XML or a `N passed, N failed` summary
// line. The TEST gate scores this, so the rule is the spec's: output we cannot recognise is
// `null` ("reported nothing"), never a silent 0 passed / 0 failed.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { Parser, type FinalResults, type Result } from 'tap-parser';

export type TestReportFormat = 'tap' | 'junit' | 'summary';

export interface TestReport {
  format: TestReportFormat;
  passed: number;
  failed: number;
  skipped: number;
  total: number;
  /** Names of failing tests, subtests as `parent > child`, at most MAX_FAILURE_NAMES. */
  failures: string[];
}

export const MAX_FAILURE_NAMES = 50;

export function parseTestReport(text: string, format: 'auto' | TestReportFormat): TestReport | null {
  switch (format) {
    case 'tap':
      return parseTap(text);
    case 'junit':
      return parseJunit(text);
    case 'summary':
      return parseSummary(text);
    case 'auto':
      if (text.includes('<testsuite')) return parseJunit(text);
      if (looksLikeTap(text)) return parseTap(text);
      return parseSummary(text);
  }
}

const TAP_PLAN = /^\s*1\.\.\d+/m;
const TAP_POINT = /^\s*(?:not )?ok\b/m;

function looksLikeTap(text: string): boolean {
  return TAP_PLAN.test(text) || TAP_POINT.test(text);
}

function report(format: TestReportFormat, passed: number, failed: number, skipped: number, failures: string[]): TestReport {
  return { format, passed, failed, skipped, total: passed + failed + skipped, failures: failures.slice(0, MAX_FAILURE_NAMES) };
}

/**
 * Counts come from the top-level test points (for node:test and tap, one per file or
 * top-level test), so a failing subtest counts once, through its parent. Names come from
 * every level, keeping the deepest: "suite > case" says more than "suite".
 */
function parseTap(text: string): TestReport | null {
  const parser = new Parser();
  let final: FinalResults | undefined;
  const names: string[] = [];
  const listen = (p: Parser): void => {
    p.on('assert', (r: Result) => {
      if (!r.ok && !r.skip && !r.todo) names.push(r.fullname || `test ${r.id}`);
    });
    p.on('child', listen);
  };
  listen(parser);
  parser.on('complete', (r: FinalResults) => { final = r; });
  // Parser is a synchronous stream: write + end emits everything, 'complete' included.
  parser.write(text);
  parser.end();
  if (!final || (final.count === 0 && !TAP_PLAN.test(text))) return null;

  const skipped = final.skip + final.todo;
  // failures also holds protocol errors ("no plan"); only real test points are tests.
  let failed = final.failures.filter((f) => f.tapError === null || f.tapError === undefined).length;
  const passed = final.count - skipped - failed;
  const failures = deepestOnly(names);
  // A stream that stops early (crash, bail out) has not passed what it never ran.
  const planned = final.plan.start === null || final.plan.end === null ? null : final.plan.end - final.plan.start + 1;
  const missing = planned === null ? 0 : Math.max(0, planned - final.count);
  if (final.bailout !== false) {
    failures.unshift(`Bail out!${typeof final.bailout === 'string' && final.bailout ? ` ${final.bailout}` : ''}`);
    if (missing === 0) failed += 1;
  }
  if (missing > 0) {
    failed += missing;
    failures.push(`${missing} planned test${missing === 1 ? '' : 's'} did not run`);
  }
  return report('tap', passed, failed, skipped, failures);
}

/** Drops a failing parent whose failing child is also listed. */
function deepestOnly(names: string[]): string[] {
  const parents = new Set<string>();
  for (const name of names) {
    for (let i = name.lastIndexOf(' > '); i > 0; i = name.lastIndexOf(' > ', i - 1)) parents.add(name.slice(0, i));
  }
  return names.filter((n) => !parents.has(n));
}

// Test-result tags that may repeat; forcing arrays keeps the walk free of shape checks.
const JUNIT_ARRAYS = new Set(['testsuites', 'testsuite', 'testcase', 'failure', 'error', 'skipped']);

interface JunitNode {
  testsuites?: JunitNode[];
  testsuite?: JunitNode[];
  testcase?: JunitCase[];
}

interface JunitCase {
  '@_name'?: string;
  '@_classname'?: string;
  failure?: unknown[];
  error?: unknown[];
  skipped?: unknown[];
}

/** Sums every <testcase> under any nesting of <testsuites>/<testsuite>. */
function parseJunit(text: string): TestReport | null {
  const xml = junitDocument(text);
  if (xml === null || XMLValidator.validate(xml) !== true) return null;
  const doc = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    parseAttributeValue: false,
    parseTagValue: false,
    isArray: (name) => JUNIT_ARRAYS.has(name),
  }).parse(xml) as JunitNode;
  if (!doc.testsuites && !doc.testsuite) return null;

  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures: string[] = [];
  const visit = (node: JunitNode): void => {
    for (const c of node.testcase ?? []) {
      if (c.failure || c.error) {
        failed++;
        const name = c['@_name'] ?? '(unnamed)';
        failures.push(c['@_classname'] ? `${c['@_classname']}.${name}` : name);
      } else if (c.skipped) {
        skipped++;
      } else {
        passed++;
      }
    }
    for (const child of [...(node.testsuites ?? []), ...(node.testsuite ?? [])]) visit(child);
  };
  visit(doc);
  return report('junit', passed, failed, skipped, failures);
}

/** The XML document within the text, which may be a command's stdout with chatter around it. */
function junitDocument(text: string): string | null {
  const starts = [text.indexOf('<?xml'), text.indexOf('<testsuite')].filter((i) => i >= 0);
  if (starts.length === 0) return null;
  const start = Math.min(...starts);
  const closeAll = text.lastIndexOf('</testsuites>');
  const closeOne = text.lastIndexOf('</testsuite>');
  const end = closeAll >= 0 ? closeAll + '</testsuites>'.length : closeOne >= 0 ? closeOne + '</testsuite>'.length : text.length;
  return end > start ? text.slice(start, end) : null;
}

const SUMMARY = /(\d+) passed, (\d+) failed(?:, (\d+) skipped)?/i;

/** The last summary line wins: runners print progress lines before the final tally. */
function parseSummary(text: string): TestReport | null {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = SUMMARY.exec(lines[i]!);
    if (m) return report('summary', Number(m[1]), Number(m[2]), Number(m[3] ?? 0), []);
  }
  return null;
}
