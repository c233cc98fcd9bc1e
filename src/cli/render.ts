// Text rendering for people; --json prints the same data as it is.
import { formatDuration } from '../core/duration.js';
import { STAGES, type Run, type StageResult } from '../core/run.js';
import type { ExitCode } from '../core/errors.js';
import type { RunShow } from '../services/pipeline.js';

// C0 controls but newline, DEL and C1 (U+0080-U+009F, which some terminals obey as CSI and OSC).
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g;
const CONTROL_OR_NEWLINE = /[\u0000-\u001f\u007f-\u009f]/g;
const hex = (c: string): string => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/**
 * Text for a terminal: every control character but newline shown as `\x1b` and the like, so
 * nothing a heartbeat, a manifest or an error message carries can drive the operator's
 * terminal (colours, titles, cursor moves, hidden text). `say`, errors and progress use it.
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, hex);
}

/** escapeControl for one line whose parts came from elsewhere: a newline in them is shown as `\x0a` too. */
export function oneLine(text: string): string {
  return text.replace(CONTROL_OR_NEWLINE, hex);
}

const MARK: Record<string, string> = { passed: '✓', skipped: '–', failed: '✗', rolled_back: '↩' };

export function shortVersion(v: string): string {
  return /^[0-9a-f]{40,64}$/.test(v) ? v.slice(0, 12) : v;
}

export function runLine(r: Run): string {
  const when = new Date(r.createdAt).toISOString().replace('T', ' ').slice(0, 19);
  return `${r.id}  ${r.track.padEnd(10)} ${shortVersion(r.version).padEnd(14)} ${r.status.padEnd(11)} ${r.stage.padEnd(12)} ${when}${r.reason ? `  ${r.reason}` : ''}`;
}

export function stageLine(s: StageResult): string {
  const took = formatDuration(s.finishedAt - s.startedAt);
  const tries = s.attempts > 1 ? ` after ${s.attempts} attempts` : '';
  return `  ${MARK[s.outcome] ?? '?'} ${s.stage.padEnd(10)} ${s.outcome.padEnd(11)} ${took.padStart(7)}${tries}  ${s.reason}`;
}

export function runSummary(run: Run, results: StageResult[]): string {
  const lines = [`run ${run.id}: ${run.track} ${shortVersion(run.version)} (${run.commit.slice(0, 12)}) → ${run.status}`];
  for (const stage of STAGES) {
    const r = results.find((x) => x.stage === stage);
    lines.push(r ? stageLine(r) : `    ${stage.padEnd(10)} not run`);
  }
  if (run.reason && run.status !== 'completed') lines.push(`  reason: ${run.reason}`);
  return lines.join('\n');
}

/** 0 completed, 3 stopped by a gate or rolled back, 1 stopped by an error. */
export function exitCodeOfRun(run: Run): ExitCode {
  if (run.status === 'completed') return 0;
  if (run.status === 'rolled_back') return 3;
  if (run.status === 'failed') return run.code === 'E_GATE' || run.code === 'E_COMMAND_FAILED' || run.code === 'E_TIMEOUT' ? 3 : 1;
  return 1;
}

/** Live progress on a TTY: one line per state the run enters. */
export function progressPrinter(stream: NodeJS.WriteStream, results: (runId: string) => Promise<StageResult[]>) {
  const started = Date.now();
  let printed = 0;
  return async (state: string, run: Run): Promise<void> => {
    const done = await results(run.id);
    for (const r of done.slice(printed)) stream.write(`${escapeControl(stageLine(r))}\n`);
    printed = done.length;
    const elapsed = formatDuration(Date.now() - started);
    if (run.status === 'running') stream.write(`  … ${escapeControl(state)} (${elapsed})\n`);
  };
}

/** `pipeline show` for people: the summary, then each stage's evidence, manifests and what it waits for. */
export function runShow(shown: RunShow): string {
  const lines = [runSummary(shown.run, shown.stages)];
  if (shown.waiting) lines.push(`  waiting for: ${shown.waiting.what}`);
  if (shown.approval) lines.push(`  approved by ${shown.approval.by}: ${shown.approval.reason}`);
  for (const s of shown.stages) {
    const ev = evidenceLines(s.evidence);
    if (ev.length) lines.push(`  ${s.stage}:`, ...ev.map((l) => `    ${l}`));
  }
  for (const m of shown.manifests) lines.push(`  manifest ${m.track}#${m.seq} ${m.purpose} ${m.signed ? 'signed' : 'reserved'}`);
  return lines.join('\n');
}

const MAX_EVIDENCE_LINE = 160;
const TAIL_LINES = 15;

/** Evidence as `key: value` lines; an output tail keeps its last lines, long values are cut. */
export function evidenceLines(evidence: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(evidence)) {
    if (value === null || value === undefined) continue;
    if (typeof value === 'string' && value.includes('\n')) {
      const tail = value.trimEnd().split('\n').slice(-TAIL_LINES);
      out.push(`${key}:`, ...tail.map((l) => `  | ${cut(l)}`));
    } else if (typeof value === 'number') {
      out.push(`${key}: ${Number.isInteger(value) ? value : Number(value.toPrecision(6))}`);
    } else {
      out.push(cut(`${key}: ${typeof value === 'string' ? value : JSON.stringify(value, roundNumbers)}`));
    }
  }
  return out;
}

const cut = (line: string) => (line.length > MAX_EVIDENCE_LINE ? `${line.slice(0, MAX_EVIDENCE_LINE - 1)}…` : line);
/** No float noise in printed numbers: 0.030000000000000072 prints as 0.03. */
const roundNumbers = (_key: string, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(6)) : v);
