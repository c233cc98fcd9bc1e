// A tiny application for the demo and the tests: a build script, a TAP test suite, a lint
// step and a JSON benchmark, all plain Node so nothing needs installing. Knobs in
// `sample.json` make a version pass, fail its tests, or regress its benchmark.
// SAMPLE_COUNTS (a file) records each stage command that ran; SAMPLE_HOLD=<stage> makes
// that command write SAMPLE_HOLD_MARKER and sleep, so a test can kill the driver mid-command.

export interface SampleKnobs {
  version: string;
  /** What bench.js reports as latency_ms (lower is better). */
  latencyMs: number;
  /** How many of the 20 tests fail. */
  failingTests?: number;
  /** false: the app's /healthz answers 500 (default true). */
  healthy?: boolean;
  /** Share of the app's requests that fail, 0..1 (default 0). */
  errorRate?: number;
  /** /healthz answers 500 on a node whose directory (three levels above the release) holds a file of this name. */
  unhealthyIf?: string;
}

const hook = `// shared by every stage script
const fs = require('node:fs');
module.exports = function stage(name) {
  if (process.env.SAMPLE_COUNTS) fs.appendFileSync(process.env.SAMPLE_COUNTS, name + '\\n');
  if (process.env.SAMPLE_HOLD === name && process.env.SAMPLE_HOLD_MARKER && !fs.existsSync(process.env.SAMPLE_HOLD_MARKER)) {
    fs.writeFileSync(process.env.SAMPLE_HOLD_MARKER, String(process.pid));
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
  }
};
`;

const build = `require('./stage.js')('build');
const fs = require('node:fs');
fs.mkdirSync('out', { recursive: true });
fs.copyFileSync('app.js', 'out/app.js');
console.log('built out/app.js for', require('./sample.json').version);
`;

const test = `require('./stage.js')('test');
const { failingTests = 0 } = require('./sample.json');
console.log('TAP version 14');
console.log('1..20');
for (let i = 1; i <= 20; i++) console.log((i <= failingTests ? 'not ok ' : 'ok ') + i + ' - case ' + i);
`;

const lint = `require('./stage.js')('audit');
console.log('lint: 3 files clean');
`;

const bench = `require('./stage.js')('benchmark');
const { latencyMs } = require('./sample.json');
console.log(JSON.stringify({ metrics: { latency_ms: { value: latencyMs, better: 'lower', unit: 'ms' }, throughput_rps: { value: Math.round(100000 / latencyMs), better: 'higher' } } }));
`;

const app = `// the application itself: an HTTP server with /healthz, /work and /metrics. It sends
// itself 5 requests a second to /work, so its counters move as a busy app's would (20 cost
// each node's app ~2.6% of a core here: ~50 core-s of a test run).
const http = require('node:http');
const { version, healthy = true, errorRate = 0, unhealthyIf = null } = require('./sample.json');
const sick = () => unhealthyIf !== null && require('node:fs').existsSync(require('node:path').join(process.cwd(), '..', '..', '..', unhealthyIf));
const port = Number(process.env.PORT || 8080);
let requests = 0;
let errors = 0;
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    const ok = healthy && !sick();
    res.statusCode = ok ? 200 : 500;
    return res.end(JSON.stringify({ ok, version }));
  }
  if (req.url === '/metrics') {
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    return res.end('# TYPE app_requests_total counter\\napp_requests_total ' + requests + '\\n# TYPE app_errors_total counter\\napp_errors_total ' + errors + '\\n');
  }
  requests++;
  // every request whose running share of errors is below errorRate fails: exact, no randomness
  const fail = req.url === '/work' && errors < errorRate * requests;
  if (fail || req.url !== '/work') errors++;
  res.statusCode = fail ? 500 : req.url === '/work' ? 200 : 404;
  res.end(version);
});
server.listen(port, '127.0.0.1', () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  setInterval(() => http.get({ host: '127.0.0.1', port, path: '/work', agent }, (r) => r.resume()).on('error', () => {}), 200).unref();
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

export function sampleAppFiles(k: SampleKnobs): Record<string, string> {
  return {
    'sample.json': `${JSON.stringify({ version: k.version, latencyMs: k.latencyMs, failingTests: k.failingTests ?? 0, healthy: k.healthy ?? true, errorRate: k.errorRate ?? 0, ...(k.unhealthyIf ? { unhealthyIf: k.unhealthyIf } : {}) }, null, 2)}\n`,
    'stage.js': hook,
    'build.js': build,
    'test.js': test,
    'lint.js': lint,
    'bench.js': bench,
    'app.js': app,
    'README.md': '# sample app\n\nManaged by upshift.\n',
    '.gitignore': 'out/\n',
  };
}

/** The authority section that runs the sample app's scripts. */
export const SAMPLE_PIPELINE = {
  build: { command: 'node build.js', timeout: '1m' },
  test: { command: 'node test.js', timeout: '1m', min_pass_rate: 0.95 },
  audit: { commands: ['node lint.js'], protected_paths: ['stage.js'], timeout: '1m' },
  benchmark: { suites: [{ name: 'micro', command: 'node bench.js', repeat: 3 }], tolerance: 0.1, timeout: '1m' },
};
