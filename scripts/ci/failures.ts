// After a failed `npm test`: name every failing assertion with its file and diagnostics, and
// every file that ended without finishing its plan. CI keeps only the tail of its log, and
// tap's own report of a failure may be thousands of lines above it.
// Usage: node dist/scripts/ci/failures.js [dir]   (dir: tap's saved output, .tap/test-results)
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Parser, type Result } from 'tap-parser';
import { stringify } from 'yaml';

const DIAG_LINES = 30;

/** The TAP files under `dir`, in path order. */
function tapFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.tap'))
    .sort()
    .map((f) => join(dir, f));
}

type Failure = { name: string; diag: unknown };

/**
 * Every failing test point of a TAP stream, subtests included, named `parent > child`. In a
 * group's output (test/helpers/group.ts) a top-level point named after a test file comes
 * before that file's tests: their failures are named `file: parent > child`.
 */
function failures(tap: string): { failed: Failure[]; ok: boolean } {
  const failed: Failure[] = [];
  let member = '';
  const watch = (parser: Parser) => {
    parser.on('child', watch);
    parser.on('assert', (r: Result) => {
      if (!r.ok && !r.todo && !r.skip) failed.push({ name: member && r.name !== member ? `${member}: ${r.fullname}` : r.fullname, diag: r.diag });
    });
  };
  const parser = new Parser();
  let ok = false;
  parser.on('assert', (r: Result) => { if (r.name.endsWith('.test.js')) member = r.name; });
  watch(parser);
  parser.on('complete', (r: { ok: boolean }) => { ok = r.ok; });
  parser.end(tap);
  // a subtest's own "not ok" repeats its children's: keep the innermost
  const leaves = failed.filter((f) => !failed.some((o) => o.name.startsWith(`${f.name} > `)));
  return { failed: leaves, ok };
}

function describe(f: Failure): string {
  const lines = [`  not ok - ${f.name}`];
  // the stack says where; the quoted source only repeats it
  const { source: _, ...diag } = (f.diag ?? {}) as Record<string, unknown>;
  if (diag.stack) delete diag.at;
  if (Object.keys(diag).length > 0) {
    const text = stringify(diag, { lineWidth: 0 }).trimEnd().split('\n');
    lines.push(...text.slice(0, DIAG_LINES).map((l) => `    ${l}`));
    if (text.length > DIAG_LINES) lines.push(`    … ${text.length - DIAG_LINES} more lines`);
  }
  return lines.join('\n');
}

/** A report of one file's failures, or null when it passed. */
export function fileReport(name: string, tap: string): string | null {
  const { failed, ok } = failures(tap);
  const finished = /^1\.\.\d+/m.test(tap);
  if (ok && finished) return null;
  const lines = [`# ${name}`];
  // a file cut short (killed, timed out) has no plan of its own; its last lines say how far it got
  if (!finished || failed.length === 0) {
    lines.push('  ended without its plan or a failing assertion (killed or timed out?); its last lines:');
    lines.push(...tap.trimEnd().split('\n').slice(-10).map((l) => `    ${l}`));
  }
  lines.push(...failed.map(describe));
  return lines.join('\n');
}

export function report(dir: string): string {
  const reports = tapFiles(dir)
    .map((f) => fileReport(relative(dir, f), readFileSync(f, 'utf8')))
    .filter((r): r is string => r !== null);
  if (reports.length === 0) return `# failures: none in ${dir}`;
  return [`# failures: ${reports.length} file(s)`, ...reports].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(report(process.argv[2] ?? '.tap/test-results'));
}
