// Re-attesting an unchanged release tree (issue 9): what a node pays every app.attest_every
// with the stat cache and the tree watch (adapters/stat-cache.ts, tree-watch.ts: only the
// directories that reported a change are stat'ed) against a full read of every file, the cost
// every app.attest_full_every and of the first attestation, all measured in the same run.
// The stat cache alone (one lstat per file) is reported beside it. Target: ≤ 10% of a full hash.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codeHash } from '../../src/adapters/code-hash-files.js';
import { StatCache } from '../../src/adapters/stat-cache.js';
import { TreeWatch } from '../../src/adapters/tree-watch.js';
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
    const memory = watchMemory(dir);
    const wcache = new StatCache();
    const watch = new TreeWatch();
    const arming = await codeHash(dir, { cache: wcache, watch });
    if (arming.hash !== full.hash || !watch.isArmed) throw new Error(`the watch was not armed: ${watch.lastFailure}`);
    const watchers = watch.size;
    const fullMs: number[] = [];
    const cachedMs: number[] = [];
    const watchedMs: number[] = [];
    const fullCpu: number[] = [];
    const cachedCpu: number[] = [];
    const watchedCpu: number[] = [];
    let cachedFiles = 0;
    let watchedFiles = 0;
    const cpuMs = async (fn: () => Promise<unknown>, into: number[]) => {
      const before = process.cpuUsage();
      const ms = await timeOnce(fn);
      const used = process.cpuUsage(before);
      into.push((used.user + used.system) / 1000);
      return ms;
    };
    try {
      // interleaved, so a busy spell on the machine hits all three alike
      for (let i = 0; i < RUNS; i++) {
        fullMs.push(await cpuMs(() => codeHash(dir), fullCpu));
        cachedMs.push(await cpuMs(async () => {
          const r = await codeHash(dir, { cache });
          if (r.hash !== full.hash) throw new Error('the cached hash differs from the full one');
          cachedFiles = r.cached;
        }, cachedCpu));
        watchedMs.push(await cpuMs(async () => {
          const r = await codeHash(dir, { cache: wcache, watch });
          if (r.hash !== full.hash) throw new Error('the watched hash differs from the full one');
          watchedFiles = r.watched;
        }, watchedCpu));
      }
    } finally {
      watch.close();
    }
    const f = summarize(fullMs);
    const c = summarize(cachedMs);
    const w = summarize(watchedMs);
    const fc = summarize(fullCpu);
    const cc = summarize(cachedCpu);
    const wc = summarize(watchedCpu);
    const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
    return {
      files: repo.files,
      bytes: repo.bytes,
      full_hash_ms: f,
      watched_ms: w,
      files_not_stated: watchedFiles,
      ratio: ratio(w.median, f.median),
      cpu_ratio: ratio(wc.median, fc.median),
      watchers,
      ...memory,
      stat_cache_only: {
        cached_ms: c,
        files_from_cache: cachedFiles,
        ratio: ratio(c.median, f.median),
        cpu_ratio: ratio(cc.median, fc.median),
      },
      full_cpu_ms: fc,
      watched_cpu_ms: wc,
      target_ratio: TARGET_RATIO,
      meets_target: w.median <= TARGET_RATIO * f.median,
      note: 'Wall and CPU time (this process; the full pass also spawns git ls-files) on the same warm page cache, the three passes interleaved. The watched pass lstat()s .git/index and reads the symlink; the stat-cache pass lstat()s every tracked file too. The memory deltas span arming a watch alone over every directory in a fresh process; the kernel side (one inotify mark per directory, pinning its inode) is not in RSS.',
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * RSS and heap of a watch over every directory of the tree (.git aside), armed on its own in a
 * fresh process: in this one, the garbage of the passes before moves RSS by megabytes.
 */
function watchMemory(root: string): { watch_rss_delta_kb: number; watch_heap_delta_kb: number } {
  const dirs = [''];
  for (let i = 0; i < dirs.length; i++) {
    const rel = dirs[i]!;
    for (const d of fs.readdirSync(rel === '' ? root : `${root}/${rel}`, { withFileTypes: true })) {
      if (d.isDirectory() && !(rel === '' && d.name === '.git')) dirs.push(rel === '' ? d.name : `${rel}/${d.name}`);
    }
  }
  const module = new URL('../../src/adapters/tree-watch.js', import.meta.url).href;
  const script = `
    const { TreeWatch } = await import(${JSON.stringify(module)});
    const [root, dirs] = JSON.parse(process.argv[1]);
    const w = new TreeWatch();
    for (let i = 0; i < 3; i++) gc();
    const before = process.memoryUsage();
    if (!w.arm(root, {}, dirs)) throw new Error(w.lastFailure);
    for (let i = 0; i < 3; i++) gc();
    const after = process.memoryUsage();
    w.close();
    console.log(JSON.stringify({ rss: after.rss - before.rss, heap: after.heapUsed - before.heapUsed }));`;
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script, JSON.stringify([root, dirs])], { encoding: 'utf8' });
  const { rss, heap } = JSON.parse(out) as { rss: number; heap: number };
  return { watch_rss_delta_kb: Math.round(rss / 1024), watch_heap_delta_kb: Math.round(heap / 1024) };
}
