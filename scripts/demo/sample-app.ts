// A tiny application for the demo and the tests: a build script, a TAP test suite, a lint
// step and a JSON benchmark in POSIX sh, and the app itself in plain Node, so nothing needs
// installing. Knobs in `sample.json` make a version pass, fail its tests, or regress its
// benchmark.
// SAMPLE_COUNTS (a file) records each stage command that ran; SAMPLE_HOLD=<stage> makes
// that command write SAMPLE_HOLD_MARKER and sleep, so a test can kill the driver mid-command.

export interface SampleKnobs {
  version: string;
  /** What bench.sh reports as latency_ms (lower is better). */
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

// The stage scripts are POSIX sh: a pipeline run starts nine of them, and a Node start costs
// ~40 ms of CPU against ~2 ms for sh (~800 starts in a test run). Each names its stage and
// sources stage.sh.
const hook = `# shared by every stage script: stage=<name>; . ./stage.sh
if [ -n "\${SAMPLE_COUNTS:-}" ]; then echo "$stage" >> "$SAMPLE_COUNTS"; fi
if [ "\${SAMPLE_HOLD:-}" = "$stage" ] && [ -n "\${SAMPLE_HOLD_MARKER:-}" ] && [ ! -e "$SAMPLE_HOLD_MARKER" ]; then
  echo $$ > "$SAMPLE_HOLD_MARKER.tmp" && mv "$SAMPLE_HOLD_MARKER.tmp" "$SAMPLE_HOLD_MARKER"
  sleep 60
fi
# a value from sample.json, a number or a string (one key a line, as sampleAppFiles writes it)
knob() { sed -n "s/^ *\\"$1\\": *\\"\\{0,1\\}\\([^\\",]*\\).*/\\\\1/p" sample.json; }
`;

const build = `stage=build
. ./stage.sh
mkdir -p out
cp app.js out/app.js
echo "built out/app.js for $(knob version)"
`;

const test = `stage=test
. ./stage.sh
failing=$(knob failingTests)
echo 'TAP version 14'
echo '1..20'
i=1
while [ "$i" -le 20 ]; do
  if [ "$i" -le "\${failing:-0}" ]; then echo "not ok $i - case $i"; else echo "ok $i - case $i"; fi
  i=$((i + 1))
done
`;

const lint = `stage=audit
. ./stage.sh
echo 'lint: 3 files clean'
`;

const bench = `stage=benchmark
. ./stage.sh
latency=$(knob latencyMs)
rps=$(awk -v l="$latency" 'BEGIN { printf "%d", 100000 / l + 0.5 }')
echo '{"metrics":{"latency_ms":{"value":'"$latency"',"better":"lower","unit":"ms"},"throughput_rps":{"value":'"$rps"',"better":"higher"}}}'
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
    'stage.sh': hook,
    'build.sh': build,
    'test.sh': test,
    'lint.sh': lint,
    'bench.sh': bench,
    'app.js': app,
    'README.md': '# sample app\n\nManaged by upshift.\n',
    '.gitignore': 'out/\n',
  };
}

/** The authority section that runs the sample app's scripts. */
export const SAMPLE_PIPELINE = {
  build: { command: 'sh build.sh', timeout: '1m' },
  test: { command: 'sh test.sh', timeout: '1m', min_pass_rate: 0.95 },
  audit: { commands: ['sh lint.sh'], protected_paths: ['stage.sh'], timeout: '1m' },
  benchmark: { suites: [{ name: 'micro', command: 'sh bench.sh', repeat: 3 }], tolerance: 0.1, timeout: '1m' },
};
