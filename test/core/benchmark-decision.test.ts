import t from 'tap';
import { aggregateRuns, compareBenchmarks, median, parseBenchmarkOutput, type Metrics } from '../../src/core/decisions/benchmark.js';
import { isUpshiftError } from '../../src/core/errors.js';

const lower = (value: number, unit?: string) => ({ value, better: 'lower' as const, ...(unit ? { unit } : {}) });
const higher = (value: number, unit?: string) => ({ value, better: 'higher' as const, ...(unit ? { unit } : {}) });

t.test('parsing benchmark output', async (t) => {
  const ok: Array<{ name: string; stdout: string; want: Metrics }> = [
    { name: 'metrics under a "metrics" key', stdout: '{"metrics":{"latency_ms":{"value":12.5,"better":"lower","unit":"ms"}}}\n', want: { latency_ms: lower(12.5, 'ms') } },
    { name: 'bare metrics object', stdout: '{"rps":{"value":900,"better":"higher"}}', want: { rps: higher(900) } },
    {
      name: 'the last JSON object line wins over earlier ones and over log text',
      stdout: 'warming up\n{"rps":{"value":1,"better":"higher"}}\nrun 2\n{"rps":{"value":2,"better":"higher"}}\ndone\n',
      want: { rps: higher(2) },
    },
    { name: 'arrays and broken JSON lines are skipped', stdout: '{"rps":{"value":3,"better":"higher"}}\n[1,2]\n{not json\n', want: { rps: higher(3) } },
    { name: 'surrounding whitespace and CRLF are tolerated', stdout: '  {"x":{"value":-4,"better":"lower"}}  \r\n', want: { x: lower(-4) } },
    { name: 'extra fields on a metric are dropped', stdout: '{"x":{"value":1,"better":"lower","samples":[1,2]}}', want: { x: lower(1) } },
    { name: 'a metric literally named "metrics" is a metric', stdout: '{"metrics":{"value":5,"better":"lower"}}', want: { metrics: lower(5) } },
  ];
  for (const c of ok) t.same(parseBenchmarkOutput(c.stdout), c.want, c.name);

  const bad: Array<{ name: string; stdout: string; message: RegExp }> = [
    { name: 'no JSON at all', stdout: 'ran 1000 iterations\n', message: /benchmark printed no JSON metrics/ },
    { name: 'empty output', stdout: '', message: /benchmark printed no JSON metrics/ },
    { name: 'an empty metrics object', stdout: '{"metrics":{}}', message: /empty set of metrics/ },
    { name: 'a value that is a string', stdout: '{"latency":{"value":"12","better":"lower"}}', message: /metric "latency" needs a finite number/ },
    { name: 'a missing direction', stdout: '{"latency":{"value":12}}', message: /metric "latency".*"better"/ },
    { name: 'an unknown direction', stdout: '{"ok":{"value":1,"better":"lower"},"latency":{"value":12,"better":"smaller"}}', message: /metric "latency"/ },
    { name: 'a metric that is a bare number', stdout: '{"latency":12}', message: /metric "latency"/ },
    { name: 'a non-finite value', stdout: '{"metrics":{"rps":{"value":1e999,"better":"higher"}}}', message: /metric "rps" needs a finite number/ },
    { name: 'a unit that is not a string', stdout: '{"rps":{"value":1,"better":"higher","unit":5}}', message: /metric "rps" has a non-string unit/ },
  ];
  for (const c of bad) {
    t.throws(() => parseBenchmarkOutput(c.stdout), { code: 'E_COMMAND_FAILED', message: c.message }, c.name);
  }
});

t.test('median', async (t) => {
  t.equal(median([3]), 3);
  t.equal(median([5, 1, 3]), 3);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.equal(median([10, 10, 1000]), 10, 'one outlier does not move the median');
  t.throws(() => median([]), { code: 'E_INTERNAL' });
});

t.test('aggregating repetitions takes the median of each metric', async (t) => {
  const runs: Metrics[] = [
    { latency: lower(12, 'ms'), rps: higher(900) },
    { latency: lower(30, 'ms'), rps: higher(1000) },
    { rps: higher(950), latency: lower(11, 'ms') },
  ];
  t.same(aggregateRuns(runs), { latency: lower(12, 'ms'), rps: higher(950) });
  t.same(aggregateRuns([{ a: lower(1) }]), { a: lower(1) }, 'a single repetition is its own median');

  const bad: Array<{ name: string; runs: Metrics[]; message: RegExp }> = [
    { name: 'no repetitions', runs: [], message: /no repetitions/ },
    { name: 'a metric missing from one repetition', runs: [{ a: lower(1), b: lower(1) }, { a: lower(2) }], message: /metric "b" is missing from repetition 2 of 2/ },
    { name: 'a metric only in a later repetition', runs: [{ a: lower(1) }, { a: lower(2), c: higher(1) }], message: /metric "c" is missing from repetition 1 of 2/ },
    { name: 'a direction that flips', runs: [{ a: lower(1) }, { a: higher(2) }], message: /metric "a" says "lower" is better in repetition 1 but "higher" in repetition 2/ },
    { name: 'a unit that changes', runs: [{ a: lower(1, 'ms') }, { a: lower(2, 's') }], message: /metric "a" changes unit/ },
  ];
  for (const c of bad) t.throws(() => aggregateRuns(c.runs), { code: 'E_COMMAND_FAILED', message: c.message }, c.name);
});

interface CompareCase {
  name: string;
  baseline: Metrics | null;
  current: Metrics;
  tolerance?: number;
  verdict: 'pass' | 'regressed' | 'no_baseline';
  regressed?: string[];
  reason: RegExp;
  change?: Record<string, number | null>;
}

const compareCases: CompareCase[] = [
  { name: 'no baseline records a first baseline', baseline: null, current: { latency: lower(10) }, verdict: 'no_baseline', reason: /recorded 1 metric\(s\) \(latency\) as the baseline for the first time/ },
  { name: 'identical numbers pass', baseline: { latency: lower(10) }, current: { latency: lower(10) }, verdict: 'pass', reason: /^1 metric\(s\) within tolerance 5\.0% of v1\.0\.0$/, change: { latency: 0 } },
  {
    name: 'slower latency beyond tolerance regresses with both values and the percentage',
    baseline: { latency_ms: lower(10) },
    current: { latency_ms: lower(12.5) },
    verdict: 'regressed',
    regressed: ['latency_ms'],
    reason: /^1 metric\(s\) regressed vs v1\.0\.0: latency_ms 10\.0 → 12\.5 \(\+25\.0%, lower is better, tolerance 5\.0%\)$/,
    change: { latency_ms: 0.25 },
  },
  { name: 'slower latency within tolerance passes', baseline: { latency: lower(100) }, current: { latency: lower(104) }, verdict: 'pass', reason: /within tolerance 5\.0%/ },
  { name: 'a change exactly at the tolerance is not worse', baseline: { latency: lower(1) }, current: { latency: lower(1.05) }, verdict: 'pass', reason: /within/ },
  { name: 'faster latency by any amount passes', baseline: { latency: lower(100) }, current: { latency: lower(20) }, verdict: 'pass', reason: /within/, change: { latency: -0.8 } },
  {
    name: 'lower throughput beyond tolerance regresses',
    baseline: { rps: higher(1000, 'req/s') },
    current: { rps: higher(900, 'req/s') },
    verdict: 'regressed',
    regressed: ['rps'],
    reason: /rps 1000\.0 req\/s → 900\.0 req\/s \(-10\.0%, higher is better, tolerance 5\.0%\)/,
  },
  { name: 'higher throughput passes', baseline: { rps: higher(1000) }, current: { rps: higher(2000) }, verdict: 'pass', reason: /within/ },
  { name: 'a wider tolerance accepts a bigger change', baseline: { latency: lower(10) }, current: { latency: lower(12) }, tolerance: 0.25, verdict: 'pass', reason: /tolerance 25\.0%/ },
  { name: 'a zero tolerance rejects any worsening', baseline: { latency: lower(10) }, current: { latency: lower(10.01) }, tolerance: 0, verdict: 'regressed', regressed: ['latency'], reason: /latency 10\.0 → 10\.0 \(\+0\.1%/ },
  {
    name: 'a negative baseline uses its magnitude for the relative change',
    baseline: { offset: higher(-10) },
    current: { offset: higher(-12) },
    verdict: 'regressed',
    regressed: ['offset'],
    reason: /offset -10\.0 → -12\.0 \(-20\.0%, higher is better/,
    change: { offset: -0.2 },
  },
  { name: 'a zero baseline that stays zero passes', baseline: { errors: lower(0) }, current: { errors: lower(0) }, verdict: 'pass', reason: /within/, change: { errors: null } },
  { name: 'a zero baseline with any error now regresses', baseline: { errors: lower(0) }, current: { errors: lower(0.001) }, verdict: 'regressed', regressed: ['errors'], reason: /errors 0 → 0\.00100 \(baseline 0, lower is better/, change: { errors: null } },
  { name: 'a zero higher-better baseline that rises passes', baseline: { hits: higher(0) }, current: { hits: higher(5) }, verdict: 'pass', reason: /within/ },
  { name: 'a zero higher-better baseline that falls regresses', baseline: { hits: higher(0) }, current: { hits: higher(-1) }, verdict: 'regressed', regressed: ['hits'], reason: /hits 0 → -1\.00/ },
  { name: 'a metric that disappeared regresses', baseline: { latency: lower(10), rps: higher(5) }, current: { latency: lower(10) }, verdict: 'regressed', regressed: ['rps'], reason: /metric rps disappeared \(baseline 5\.00\)/ },
  { name: 'a new metric passes with a note', baseline: { latency: lower(10) }, current: { latency: lower(10), memory: lower(300) }, verdict: 'pass', reason: /^1 metric\(s\) within tolerance 5\.0% of v1\.0\.0; new metric\(s\) without a baseline: memory$/ },
  { name: 'a metric whose direction changed is not silently passed', baseline: { score: lower(10) }, current: { score: higher(10) }, verdict: 'regressed', regressed: ['score'], reason: /score 10\.0 → 10\.0 \(direction changed from lower to higher is better; not comparable\)/ },
  {
    name: 'every regressed metric is named',
    baseline: { a: lower(1), b: higher(1), c: lower(1) },
    current: { a: lower(2), b: higher(0.5), c: lower(1) },
    verdict: 'regressed',
    regressed: ['a', 'b'],
    reason: /^2 metric\(s\) regressed vs v1\.0\.0: a 1\.00 → 2\.00 \(\+100\.0%.*; b 1\.00 → 0\.500 \(-50\.0%/,
  },
];

for (const c of compareCases) {
  t.test(`comparison: ${c.name}`, async (t) => {
    const got = compareBenchmarks(c.baseline && { version: 'v1.0.0', metrics: c.baseline }, c.current, c.tolerance ?? 0.05);
    t.equal(got.verdict, c.verdict);
    t.match(got.reason, c.reason);
    t.same(got.regressions.map((r) => r.metric), c.regressed ?? []);
    t.same(got.regressions, got.comparisons.filter((r) => r.worse), 'regressions are the worse comparisons');
    for (const [metric, change] of Object.entries(c.change ?? {})) {
      const row = got.comparisons.find((r) => r.metric === metric);
      if (change === null) t.equal(row?.change, null, `${metric} change`);
      else t.ok(Math.abs((row?.change ?? NaN) - change) < 1e-12, `${metric} change ${row?.change} ≈ ${change}`);
    }
  });
}

t.test('comparison rows carry both values, the direction and notes', async (t) => {
  const got = compareBenchmarks({ version: 'v2', metrics: { a: lower(10), gone: lower(1) } }, { a: lower(11), fresh: higher(3) }, 0.2);
  t.same(got.comparisons, [
    { metric: 'a', better: 'lower', baseline: 10, value: 11, change: (11 - 10) / 10, worse: false },
    { metric: 'fresh', better: 'higher', baseline: null, value: 3, change: null, worse: false, note: 'new metric, no baseline' },
    { metric: 'gone', better: 'lower', baseline: 1, value: null, change: null, worse: true, note: 'metric disappeared' },
  ]);
  const first = compareBenchmarks(null, { a: lower(10) }, 0.2);
  t.same(first.comparisons, [{ metric: 'a', better: 'lower', baseline: null, value: 10, change: null, worse: false, note: 'no baseline' }]);
  t.same(first.regressions, []);
});

t.test('parse errors are typed upshift errors', async (t) => {
  try {
    parseBenchmarkOutput('nothing');
    t.fail('should throw');
  } catch (err) {
    t.ok(isUpshiftError(err, 'E_COMMAND_FAILED'));
  }
});
