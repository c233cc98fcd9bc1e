// Re-attesting an unchanged release tree (issue 9): what a node pays every app.attest_every
// with the stat cache (adapters/stat-cache.ts) against a full read of every file, the
// cost every app.attest_full_every and of the first attestation. Target: ≤ 10% of a full hash.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codeHash } from '../../src/adapters/code-hash-files.js';
import { StatCache } from '../../src/adapters/stat-cache.js';
import { makeRepo, progress, summarize, timeOnce } from './util.js';

const RUNS = 5;
const TARGET_RATIO = 0.1;

export interface ReattestTree {
  files: number;
  minBytes: number;
  maxBytes: number;
}

/** One result per tree: small files are the worst case (an lstat costs about a third of a read). */
export async function benchReattest(trees: readonly ReattestTree[]): Promise<object> {
  const results: object[] = [];
  for (const tree of trees) results.push(await reattestTree(tree));
  return { name: 'reattest_cached', trees: results };
}

async function reattestTree(opts: ReattestTree): Promise<object> {
  const dir = fs.mkdtempSync(join(tmpdir(), 'upshift-bench-reattest-'));
  try {
    progress(`reattest: generating ${opts.files} files of ${opts.minBytes}-${opts.maxBytes} bytes`);
    const repo = await makeRepo(dir, opts.files, { minBytes: opts.minBytes, maxBytes: opts.maxBytes, seed: 9 });
    // files younger than the cache's slack are racy and read every time, as git would
    await new Promise((r) => setTimeout(r, 3500));
    const cache = new StatCache();
    const full = await codeHash(dir);
    const first = await codeHash(dir, { cache });
    if (first.hash !== full.hash) throw new Error('the cached hash differs from the full one');
    const fullMs: number[] = [];
    const cachedMs: number[] = [];
    const fullCpu: number[] = [];
    const cachedCpu: number[] = [];
    let cachedFiles = 0;
    const cpuMs = async (fn: () => Promise<unknown>, into: number[]) => {
      const before = process.cpuUsage();
      const ms = await timeOnce(fn);
      const used = process.cpuUsage(before);
      into.push((used.user + used.system) / 1000);
      return ms;
    };
    for (let i = 0; i < RUNS; i++) {
      fullMs.push(await cpuMs(() => codeHash(dir), fullCpu));
      cachedMs.push(await cpuMs(async () => {
        const r = await codeHash(dir, { cache });
        if (r.hash !== full.hash) throw new Error('the cached hash differs from the full one');
        cachedFiles = r.cached;
      }, cachedCpu));
    }
    const f = summarize(fullMs);
    const c = summarize(cachedMs);
    const fc = summarize(fullCpu);
    const cc = summarize(cachedCpu);
    return {
      files: repo.files,
      bytes: repo.bytes,
      full_hash_ms: f,
      cached_ms: c,
      files_from_cache: cachedFiles,
      ratio: Math.round((c.median / f.median) * 100) / 100,
      full_cpu_ms: fc,
      cached_cpu_ms: cc,
      cpu_ratio: Math.round((cc.median / fc.median) * 100) / 100,
      target_ratio: TARGET_RATIO,
      meets_target: c.median <= TARGET_RATIO * f.median,
      note: 'Wall and CPU time (this process; the full pass also spawns git ls-files) on the same warm page cache. The cached pass lstat()s the index and every tracked file and reads none.',
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
