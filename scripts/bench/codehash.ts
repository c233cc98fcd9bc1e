// The code hash must keep up with what an operator would type by hand:
// `git ls-files -z | xargs -0 sha256sum`. Target: upshift's median within 1.3× of it on a
// 20k-file tree of 1–8 KiB files, both measured on the same warm page cache.
import * as fs from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { codeHash } from '../../src/adapters/code-hash-files.js';
import { makeRepo, peakRssMb, progress, round1, rssMb, sh, summarize, timeOnce, type Timing } from './util.js';

const RUNS = 5;
const TARGET_RATIO = 1.3;
const BASELINE = 'git ls-files -z | xargs -0 sha256sum > /dev/null';
// coreutils' sha256sum is often built without SHA-NI while Node's OpenSSL uses it, which
// flatters the ratio; the same pipeline through OpenSSL shows the margin on a fair footing.
const OPENSSL_BASELINE = 'git ls-files -z | xargs -0 openssl dgst -sha256 > /dev/null';

export interface CodeHashBench {
  name: 'code_hash_20k';
  files: number;
  bytes: number;
  upshift_ms: Timing;
  baseline_ms: Timing;
  ratio: number;
  target: number;
  meets_target: boolean;
  /** Median of codeHash(dir, { workers: 0 }): the same read on the calling thread only. */
  workers_0_median_ms: number;
  workers_0_ratio: number;
  baseline_cmd: string;
  /** Median of OPENSSL_BASELINE, or null where `openssl` is not installed. Informational. */
  openssl_baseline_median_ms: number | null;
  openssl_ratio: number | null;
  /** 1-minute load average when timing began: other work on the box skews every number. */
  load_avg_1m: number;
  runs: number;
  /** RSS once the repo exists, after the last timed run, and this process's peak so far. */
  rss_mb: { before: number; after: number; peak: number };
}

export async function benchCodeHash(opts: { files: number }): Promise<CodeHashBench> {
  const dir = fs.mkdtempSync(join(tmpdir(), 'upshift-bench-codehash-'));
  try {
    progress(`code_hash: generating ${opts.files} files in ${dir}`);
    const repo = await makeRepo(dir, opts.files, { minBytes: 1024, maxBytes: 8192, seed: 20_000 });

    const contenders: Partial<Record<Contender, () => Promise<unknown>>> = {
      upshift: () => codeHash(dir),
      baseline: () => sh(BASELINE, dir),
      workers0: () => codeHash(dir, { workers: 0 }),
    };
    if (await succeeds(() => sh('command -v openssl', dir))) contenders.openssl = () => sh(OPENSSL_BASELINE, dir);

    const rssBefore = rssMb();
    // Untimed pass of each: fills the page cache and the git index stat cache, and checks
    // that both upshift variants agree and saw every file.
    progress('code_hash: warm-up');
    const parallel = await codeHash(dir);
    const single = await codeHash(dir, { workers: 0 });
    await sh(BASELINE, dir);
    await contenders.openssl?.();
    if (parallel.hash !== single.hash) throw new Error(`codeHash differs with workers (${parallel.hash}) and without (${single.hash})`);
    if (parallel.files !== repo.files || parallel.bytes !== repo.bytes) {
      throw new Error(`codeHash saw ${parallel.files} files / ${parallel.bytes} bytes, repo has ${repo.files} / ${repo.bytes}`);
    }

    // Rotate the order every round so neither side always runs right after the other's I/O.
    const loadAvg = round2(loadavg()[0] ?? 0);
    const names = Object.keys(contenders) as Contender[];
    const samples: Record<Contender, number[]> = { upshift: [], baseline: [], workers0: [], openssl: [] };
    for (let round = 0; round < RUNS; round++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(round + k) % names.length]!;
        samples[name].push(await timeOnce(contenders[name]!));
      }
      progress(`code_hash: round ${round + 1}/${RUNS} ${names.map((n) => `${n} ${ms(samples[n])}`).join(' ')}`);
    }

    const upshift = summarize(samples.upshift);
    const baseline = summarize(samples.baseline);
    const workers0 = summarize(samples.workers0);
    const openssl = samples.openssl.length > 0 ? summarize(samples.openssl).median : null;
    const ratio = round2(upshift.median / baseline.median);
    return {
      name: 'code_hash_20k',
      files: repo.files,
      bytes: repo.bytes,
      upshift_ms: upshift,
      baseline_ms: baseline,
      ratio,
      target: TARGET_RATIO,
      meets_target: ratio <= TARGET_RATIO,
      workers_0_median_ms: workers0.median,
      workers_0_ratio: round2(workers0.median / baseline.median),
      baseline_cmd: BASELINE,
      openssl_baseline_median_ms: openssl,
      openssl_ratio: openssl === null ? null : round2(upshift.median / openssl),
      load_avg_1m: loadAvg,
      runs: RUNS,
      rss_mb: { before: rssBefore, after: rssMb(), peak: peakRssMb() },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
}

type Contender = 'upshift' | 'baseline' | 'workers0' | 'openssl';

async function succeeds(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch {
    return false;
  }
}

function ms(samples: number[]): string {
  return `${round1(samples[samples.length - 1]!)}ms`;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
