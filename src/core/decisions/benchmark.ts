// The BENCHMARK gate. A suite prints JSON metrics, each with the direction that is better;
// the stage repeats it and keeps per-metric medians (robust to one noisy run), then
// compares them with the last stable version's snapshot. A metric worse than `tolerance`,
// or one that vanished, rolls the run back, and the reason names both values and the change.
import { UpshiftError } from '../errors.js';

export type Better = 'lower' | 'higher';

export interface Metric {
  value: number;
  better: Better;
  unit?: string;
}

export type Metrics = Record<string, Metric>;

export interface MetricComparison {
  metric: string;
  better: Better;
  baseline: number | null;
  /** null when the metric disappeared from the current run. */
  value: number | null;
  /** Relative change (value − baseline) / |baseline|; null when it is undefined. */
  change: number | null;
  worse: boolean;
  note?: string;
}

export interface BenchmarkComparison {
  verdict: 'pass' | 'regressed' | 'no_baseline';
  reason: string;
  comparisons: MetricComparison[];
  regressions: MetricComparison[];
}

const bad = (message: string): UpshiftError => new UpshiftError('E_COMMAND_FAILED', message);

/** Metrics from the last line of stdout that is a JSON object, bare or under `metrics`. */
export function parseBenchmarkOutput(stdout: string): Metrics {
  const lines = stdout.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith('{')) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    if (!isObject(parsed)) continue;
    const wrapped = isObject(parsed.metrics) && !('value' in parsed.metrics);
    return validate(wrapped ? (parsed.metrics as Record<string, unknown>) : parsed);
  }
  throw bad('benchmark printed no JSON metrics (expected a last line like {"metrics": {"latency_ms": {"value": 12.5, "better": "lower"}}})');
}

function validate(raw: Record<string, unknown>): Metrics {
  const entries = Object.entries(raw);
  if (entries.length === 0) throw bad('benchmark printed an empty set of metrics');
  return Object.fromEntries(
    entries.map(([name, m]): [string, Metric] => {
      const ok = isObject(m) && typeof m.value === 'number' && Number.isFinite(m.value) && (m.better === 'lower' || m.better === 'higher');
      if (!ok) throw bad(`benchmark metric "${name}" needs a finite number "value" and "better": "lower" or "higher", got ${JSON.stringify(m)}`);
      if (m.unit !== undefined && typeof m.unit !== 'string') throw bad(`benchmark metric "${name}" has a non-string unit`);
      return [name, { value: m.value as number, better: m.better as Better, ...(typeof m.unit === 'string' ? { unit: m.unit } : {}) }];
    }),
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new UpshiftError('E_INTERNAL', 'median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Per-metric medians over repetitions, which must all report the same metrics the same way. */
export function aggregateRuns(runs: readonly Metrics[]): Metrics {
  if (runs.length === 0) throw bad('benchmark produced no repetitions');
  const names = [...new Set(runs.flatMap((r) => Object.keys(r)))];
  const out: Metrics = {};
  for (const name of names) {
    const samples = runs.map((r, i) => {
      const m = Object.hasOwn(r, name) ? r[name] : undefined;
      if (!m) throw bad(`benchmark metric "${name}" is missing from repetition ${i + 1} of ${runs.length}`);
      return m;
    });
    const first = samples[0]!;
    for (const [i, m] of samples.entries()) {
      if (m.better !== first.better) throw bad(`benchmark metric "${name}" says "${first.better}" is better in repetition 1 but "${m.better}" in repetition ${i + 1}`);
      if (m.unit !== first.unit) throw bad(`benchmark metric "${name}" changes unit between repetitions (${first.unit ?? 'none'} vs ${m.unit ?? 'none'})`);
    }
    out[name] = { value: median(samples.map((m) => m.value)), better: first.better, ...(first.unit === undefined ? {} : { unit: first.unit }) };
  }
  return out;
}

// (1.05 − 1) / 1 is 0.050000000000000044 in floating point: a change exactly at the
// tolerance must not count as worse.
const EPSILON = 1e-9;

export function compareBenchmarks(
  baseline: { version: string; metrics: Metrics } | null,
  current: Metrics,
  tolerance: number,
): BenchmarkComparison {
  const names = Object.keys(current);
  if (baseline === null) {
    const comparisons = names.map((metric) => ({
      metric, better: current[metric]!.better, baseline: null, value: current[metric]!.value, change: null, worse: false, note: 'no baseline',
    }));
    return {
      verdict: 'no_baseline',
      reason: `no baseline to compare with: recorded ${names.length} metric(s) (${names.join(', ')}) as the baseline for the first time`,
      comparisons,
      regressions: [],
    };
  }

  const comparisons = names.map((metric) => compareMetric(metric, baseline.metrics[metric], current[metric]!, tolerance));
  for (const [metric, base] of Object.entries(baseline.metrics)) {
    if (Object.hasOwn(current, metric)) continue;
    comparisons.push({ metric, better: base.better, baseline: base.value, value: null, change: null, worse: true, note: 'metric disappeared' });
  }
  const regressions = comparisons.filter((c) => c.worse);
  const tol = `tolerance ${pct(tolerance)}`;
  if (regressions.length > 0) {
    const units = { ...unitsOf(baseline.metrics), ...unitsOf(current) };
    const details = regressions.map((c) => describe(c, units[c.metric], tol)).join('; ');
    return { verdict: 'regressed', reason: `${regressions.length} metric(s) regressed vs ${baseline.version}: ${details}`, comparisons, regressions };
  }
  const fresh = comparisons.filter((c) => c.baseline === null).map((c) => c.metric);
  const extra = fresh.length > 0 ? `; new metric(s) without a baseline: ${fresh.join(', ')}` : '';
  return {
    verdict: 'pass',
    reason: `${comparisons.length - fresh.length} metric(s) within ${tol} of ${baseline.version}${extra}`,
    comparisons,
    regressions: [],
  };
}

function compareMetric(metric: string, base: Metric | undefined, cur: Metric, tolerance: number): MetricComparison {
  const row = { metric, better: cur.better, value: cur.value };
  if (base === undefined) return { ...row, baseline: null, change: null, worse: false, note: 'new metric, no baseline' };
  if (base.better !== cur.better) {
    // The suite changed what it measures; a silent pass could hide a regression.
    return { ...row, baseline: base.value, change: null, worse: true, note: `direction changed from ${base.better} to ${cur.better} is better` };
  }
  // Positive `bad` means movement in the wrong direction.
  const sign = cur.better === 'lower' ? 1 : -1;
  if (base.value === 0) {
    const worse = sign * cur.value > 0;
    return { ...row, baseline: 0, change: null, worse, note: 'baseline is 0, so the relative change is undefined' };
  }
  const change = (cur.value - base.value) / Math.abs(base.value);
  return { ...row, baseline: base.value, change, worse: sign * change > tolerance + EPSILON };
}

function describe(c: MetricComparison, unit: string | undefined, tol: string): string {
  const v = (n: number): string => `${num(n)}${unit ? ` ${unit}` : ''}`;
  if (c.value === null) return `metric ${c.metric} disappeared (baseline ${v(c.baseline!)})`;
  if (c.note?.startsWith('direction')) return `${c.metric} ${v(c.baseline!)} → ${v(c.value)} (${c.note}; not comparable)`;
  const change = c.change === null ? 'baseline 0' : `${c.change >= 0 ? '+' : ''}${pct(c.change)}`;
  return `${c.metric} ${v(c.baseline!)} → ${v(c.value)} (${change}, ${c.better} is better, ${tol})`;
}

function unitsOf(metrics: Metrics): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(metrics).map(([k, m]) => [k, m.unit]));
}

const pct = (ratio: number): string => `${(ratio * 100).toFixed(1)}%`;

/** Enough digits to see the difference: 12.5, 1.04, 0.00340. */
function num(n: number): string {
  const a = Math.abs(n);
  if (a === 0) return '0';
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toPrecision(3);
}
