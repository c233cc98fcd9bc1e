// Helpers shared by benchmarks: timing, RSS, and generating real git repositories to measure
// against. Benchmarks print JSON on stdout, so everything human goes to stderr.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { seededRng } from '../../src/core/rng.js';

export interface Timing {
  median: number;
  min: number;
  max: number;
}

/** Median, min and max of samples in ms, rounded to 0.1 ms so the JSON stays readable. */
export function summarize(samples: readonly number[]): Timing {
  if (samples.length === 0) throw new Error('summarize: no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median: round1(median), min: round1(sorted[0]!), max: round1(sorted[sorted.length - 1]!) };
}

/** Wall time of one call, in ms. */
export async function timeOnce(fn: () => unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** One untimed warm-up, then `runs` timed calls. */
export async function timeIt(fn: () => unknown, opts: { runs: number }): Promise<Timing> {
  await fn();
  const samples: number[] = [];
  for (let i = 0; i < opts.runs; i++) samples.push(await timeOnce(fn));
  return summarize(samples);
}

export function rssMb(): number {
  return round1(process.memoryUsage().rss / (1 << 20));
}

/** Peak RSS of this process so far (resourceUsage reports KiB). */
export function peakRssMb(): number {
  return round1(process.resourceUsage().maxRSS / 1024);
}

export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/** Seeded 32-bit integers: content that does not compress or repeat. */
export function prng(seed: number): () => number {
  const next = seededRng(seed);
  return () => Math.floor(next() * 4294967296);
}

export interface RepoOptions {
  minBytes: number;
  maxBytes: number;
  seed: number;
}

export interface RepoStats {
  /** Tracked paths, including the symlink. */
  files: number;
  /** Content bytes: regular file sizes plus the symlink target length. */
  bytes: number;
}

const FILES_PER_DIR = 100;
const EXECUTABLE_EVERY = 997;

/**
 * Fills `dir` (empty or missing) with a git repository of `files` tracked paths committed in
 * one commit: `files - 1` regular files of seeded pseudo-random content, about 100 per
 * directory two levels deep, every 997th one executable, and one symlink. The same seed
 * gives the same tree.
 */
export async function makeRepo(dir: string, files: number, opts: RepoOptions): Promise<RepoStats> {
  if (files < 2) throw new Error('makeRepo: need at least 2 files (one is a symlink)');
  if (opts.minBytes < 0 || opts.maxBytes < opts.minBytes) throw new Error('makeRepo: bad size range');
  fs.mkdirSync(dir, { recursive: true });
  const next = prng(opts.seed);
  const buf = Buffer.allocUnsafe(opts.maxBytes + 4);
  const span = opts.maxBytes - opts.minBytes + 1;
  let bytes = 0;
  let firstFile = '';
  const madeDirs = new Set<string>();
  for (let i = 0; i < files - 1; i++) {
    const d = Math.floor(i / FILES_PER_DIR);
    const rel = `pkg${String(Math.floor(d / 10)).padStart(3, '0')}/mod${d % 10}/f${String(i % FILES_PER_DIR).padStart(2, '0')}.dat`;
    const abs = join(dir, rel);
    const parent = dirname(abs);
    if (!madeDirs.has(parent)) {
      fs.mkdirSync(parent, { recursive: true });
      madeDirs.add(parent);
    }
    const size = opts.minBytes + (next() % span);
    for (let o = 0; o < size; o += 4) buf.writeUInt32LE(next(), o);
    fs.writeFileSync(abs, buf.subarray(0, size), { mode: i % EXECUTABLE_EVERY === 1 ? 0o755 : 0o644 });
    bytes += size;
    if (i === 0) firstFile = rel;
  }
  // A relative link one directory up from its target, so it resolves inside the tree.
  const link = join(dir, dirname(dirname(firstFile)), 'link-to-first');
  const target = relative(dirname(link), join(dir, firstFile));
  fs.symlinkSync(target, link);
  bytes += Buffer.byteLength(target);

  // Identity and signing come from -c so the user's git config cannot break or slow the run;
  // loose objects are stored uncompressed because random bytes do not compress anyway.
  const git = ['-c', 'user.name=upshift-bench', '-c', 'user.email=bench@upshift.invalid', '-c', 'commit.gpgsign=false', '-c', 'core.looseCompression=0', '-c', 'gc.auto=0', '-c', 'maintenance.auto=false'];
  await run('git', ['-c', 'init.defaultBranch=main', 'init', '-q'], dir);
  await run('git', [...git, 'add', '-A'], dir);
  await run('git', [...git, 'commit', '-q', '--no-verify', '-m', `bench repo: ${files} files, seed ${opts.seed}`], dir);
  return { files, bytes };
}

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((ok, fail) => {
    execFile(cmd, args, { cwd, maxBuffer: 1 << 26 }, (err, _stdout, stderr) => {
      if (err) fail(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.toString().trim() || err.message}`, { cause: err }));
      else ok();
    });
  });
}

/** Runs a shell pipeline and resolves when it exits 0; its stdout is discarded. */
export function sh(script: string, cwd: string): Promise<void> {
  return run('/bin/sh', ['-c', script], cwd);
}
