// Computes the release code hash (format in core/code-hash-format.ts) of a work tree. Reading
// 20k small files is dominated by open/read/close syscalls, not by SHA-256, so files are
// read synchronously in tight loops with one reused buffer (no per-file promises), in
// chunks shared between the calling thread and a worker thread: two cores read at once,
// and the event loop is never blocked for more than one chunk.
import { execFile } from 'node:child_process';
import * as nodeCrypto from 'node:crypto';
import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { codeHashLines, contentKind, type CodeHashEntry } from '../core/code-hash-format.js';
import { UpshiftError } from '../core/errors.js';
import type { StatCache } from './stat-cache.js';
import { dirOf, dirsOf, type TreeWatch, type WatchPass } from './tree-watch.js';
import { walkFiles, walkWatched } from './walk-tree.js';

export interface CodeHash {
  hash: string;
  files: number;
  /** Content bytes hashed (file bytes, symlink targets, gitlink ids). */
  bytes: number;
  /** Regular files whose hash came from the stat cache (0 without one). */
  cached: number;
  /** Of those, files not even stat'ed: the tree watch vouched for their directory. */
  watched: number;
}

export interface CodeHashOptions {
  /** Worker threads reading beside the calling thread; 0 reads on the calling thread only. Default: 2 from 4 cores up, else 0. */
  workers?: number;
  /** false leaves all reading to the workers (when there are any): the event loop only merges. */
  readOnCallingThread?: boolean;
  /** Re-attestation: files unchanged since they were last hashed are not read (stat-cache.ts). */
  cache?: StatCache;
  /**
   * With `cache`: only files in directories that reported a change are stat'ed (and, in a
   * tree without git, read again: walk-tree.ts). Armed by the first pass, again after a failure.
   */
  watch?: TreeWatch;
}

/** Below this many files, starting a worker costs more than it saves. */
const PARALLEL_MIN_FILES = 2000;
/** Files per chunk: a few milliseconds of blocking on the calling thread; messaging cost is noise. */
const CHUNK_FILES = 250;
/** Read buffer per thread; most source files fit in one read. */
const SCRATCH_BYTES = 1 << 20;

export async function codeHash(dir: string, opts: CodeHashOptions = {}): Promise<CodeHash> {
  const root = resolve(dir);
  // A git work tree (the authority's build, a node's fetched release) hashes its tracked
  // files; a tree without git metadata (an extracted bundle) hashes every file in it.
  const git = fs.existsSync(`${root}/.git`);
  const watch = opts.cache ? opts.watch : undefined;
  const walked = !git && watch ? await walkWatched(root, opts.cache!, watch) : null;
  const index = git ? await trackedFiles(root, opts.cache) : walked?.index ?? walkFiles(root);
  // Content hashes aligned with `index`; regular files are filled in after the bulk read.
  const contentSha = new Array<string>(index.length);
  const fileAt: number[] = [];
  const others: string[] = [];
  let bytes = 0;
  for (let i = 0; i < index.length; i++) {
    const e = index[i]!;
    const kind = contentKind(e.mode, e.path);
    if (kind === 'file') {
      fileAt.push(i);
    } else {
      const content = kind === 'symlink' ? readLinkOf(root, e.path) : Buffer.from(e.oid);
      bytes += content.length;
      const sha = nodeCrypto.createHash('sha256').update(content).digest('hex');
      contentSha[i] = sha;
      others.push(sha);
    }
  }

  // Measured (npm run bench): on 2 cores a worker only competes with the calling thread
  // and costs its start-up; it pays off from 4 cores up.
  const workers = opts.workers ?? (availableParallelism() >= 4 ? 2 : 0);
  // the watch is keyed by the listing it was armed over; a walk took and armed it already
  const key: unknown = walked?.key ?? index;
  let pass = walked?.pass ?? null;
  if (git && watch) {
    pass = await watch.take(root, index);
    // armed before the stats: a change after them is reported, one before is seen by them
    if (!pass) watch.arm(root, index, dirsOf(index.map((e) => e.path)));
  }
  const cached = opts.cache ? fromCache(opts.cache, root, index, fileAt, contentSha, pass) : null;
  const watched = cached?.watched ?? 0;
  // Nothing changed since the last pass over this listing: its hash stands (no 10k-line rebuild).
  const otherKey = others.join();
  const same = cached && cached.misses.length === 0 ? opts.cache?.resultFor(index, otherKey) : null;
  if (same) {
    settleWatch(watch, pass, root, key);
    return { hash: same, files: index.length, bytes: bytes + cached!.bytes, cached: fileAt.length, watched };
  }
  const toRead = cached ? cached.misses : fileAt;
  const absolute = toRead.map((i) => `${root}/${index[i]!.path}`);
  const pool = absolute.length >= PARALLEL_MIN_FILES ? workers : 0;
  const read = await hashChunks(absolute, pool, pool === 0 || opts.readOnCallingThread !== false);
  if ('failed' in read) throw readError(read.failed, root);
  for (let k = 0; k < toRead.length; k++) contentSha[toRead[k]!] = read.hex[k]!;
  bytes += read.bytes + (cached?.bytes ?? 0);
  if (cached && opts.cache) {
    for (let k = 0; k < toRead.length; k++) {
      const st = cached.stats.get(toRead[k]!);
      if (st) opts.cache.record(index[toRead[k]!]!.path, st, read.hex[k]!, cached.markedAt);
    }
    // paths go away only with a new listing
    if (!opts.cache.lastListingIs(index)) opts.cache.keepOnly(new Set(fileAt.map((i) => index[i]!.path)));
  }

  const entries: CodeHashEntry[] = index.map((e, i) => ({ path: e.path, mode: e.mode, contentSha256: contentSha[i]! }));
  // One update rather than one per file: each call crosses into native code.
  const hash = nodeCrypto.createHash('sha256').update(codeHashLines(entries).join('')).digest('hex');
  opts.cache?.keepResult(index, otherKey, hash);
  settleWatch(watch, pass, root, key);
  return { hash, files: entries.length, bytes, cached: fileAt.length - toRead.length, watched };
}

/**
 * Fills `contentSha` for the files the cache vouches for; the rest (misses) are read. Each
 * file is stat'ed before it is read, and the mark is taken before any stat (stat-cache.ts).
 * With a pass of the tree watch, a file in a directory that reported nothing is not stat'ed.
 */
function fromCache(
  cache: StatCache, root: string, index: IndexEntry[], fileAt: number[], contentSha: string[], pass: WatchPass | null,
) {
  cache.use(root);
  const markedAt = cache.mark();
  const misses: number[] = [];
  const stats = new Map<number, fs.BigIntStats>();
  let bytes = 0;
  let watched = 0;
  for (const i of fileAt) {
    const path = index[i]!.path;
    const trusted = pass && !pass.dirty.has(dirOf(path)) ? cache.trusted(path) : null;
    if (trusted) {
      contentSha[i] = trusted.sha256;
      bytes += Number(trusted.size);
      watched++;
      continue;
    }
    let st: fs.BigIntStats | undefined;
    try {
      st = fs.lstatSync(`${root}/${path}`, { bigint: true });
    } catch {
      // missing or unreadable: the read reports it
    }
    const hit = st ? cache.lookup(path, st) : null;
    if (hit !== null && st) {
      contentSha[i] = hit;
      bytes += Number(st.size);
    } else {
      misses.push(i);
      if (st?.isFile()) stats.set(i, st);
    }
  }
  return { misses, stats, markedAt, bytes, watched };
}

/** After a pass that finished: the dirs it stat'ed are clean, or the watch it armed may vouch. */
function settleWatch(watch: TreeWatch | undefined, pass: WatchPass | null, root: string, key: unknown): void {
  if (pass) watch?.commit(pass);
  else watch?.confirm(root, key);
}

/**
 * `git ls-files` of a work tree, or with a cache the listing kept from last time while the
 * index file's stat key is unchanged and settled (the same rule as for files): one process
 * spawn less per re-attestation. Any change to .git/index (a checkout, an edit) moves its ctime.
 */
async function trackedFiles(root: string, cache: StatCache | undefined): Promise<IndexEntry[]> {
  if (!cache) return lsFiles(root);
  cache.use(root);
  const markedAt = cache.mark();
  let st: fs.BigIntStats | undefined;
  try {
    st = fs.lstatSync(`${root}/.git/index`, { bigint: true });
  } catch {
    // no index file (a .git file of a linked work tree, or none yet): ask git
  }
  const kept = st ? (cache.listing(st) as IndexEntry[] | null) : null;
  if (kept) return kept;
  const entries = await lsFiles(root);
  if (st) cache.keepListing(st, entries, markedAt);
  return entries;
}

interface IndexEntry {
  mode: string;
  oid: string;
  path: string;
}

// Set inside git hooks, these would point ls-files at another repository than `root`.
const GIT_LOCATION_ENV = { GIT_DIR: undefined, GIT_WORK_TREE: undefined, GIT_INDEX_FILE: undefined, GIT_COMMON_DIR: undefined };

/** Tracked paths with their index mode, from `git ls-files -s -z`. */
async function lsFiles(root: string): Promise<IndexEntry[]> {
  const out = await new Promise<Buffer>((ok, fail) => {
    const opts = { cwd: root, encoding: 'buffer' as const, maxBuffer: 1 << 30, env: { ...process.env, ...GIT_LOCATION_ENV } };
    execFile('git', ['ls-files', '-s', '-z'], opts, (err, stdout, stderr) => {
      if (err) fail(new UpshiftError('E_GIT', `git ls-files failed in ${root}: ${stderr.toString().trim() || err.message}`, { cause: err }));
      else ok(stdout);
    });
  });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(out);
  } catch (err) {
    // A lossy decode would hash a different name than the one on disk.
    throw new UpshiftError('E_WORKTREE', `a tracked path in ${root} is not valid UTF-8`, { cause: err });
  }
  const entries: IndexEntry[] = [];
  for (const record of text.split('\0')) {
    if (record === '') continue;
    // "<mode> <oid> <stage>\t<path>"
    const tab = record.indexOf('\t');
    const [mode = '', oid = '', stage = ''] = record.slice(0, tab).split(' ');
    const path = record.slice(tab + 1);
    if (stage !== '0') throw new UpshiftError('E_WORKTREE', `tracked path ${path} is unmerged (stage ${stage})`, { details: { path } });
    entries.push({ mode, oid, path });
  }
  return entries;
}

function readLinkOf(root: string, path: string): Buffer {
  try {
    return fs.readlinkSync(`${root}/${path}`, { encoding: 'buffer' });
  } catch (err) {
    throw readError({ path: `${root}/${path}`, code: (err as NodeJS.ErrnoException).code ?? '', message: (err as Error).message }, root);
  }
}

interface ReadFailure {
  path: string;
  code: string;
  message: string;
}
type ReadResult = { hex: string[]; bytes: number } | { failed: ReadFailure };

function readError(f: ReadFailure, root: string): UpshiftError {
  const path = f.path.startsWith(`${root}/`) ? f.path.slice(root.length + 1) : f.path;
  const missing = f.code === 'ENOENT' || f.code === 'ENOTDIR';
  const message = missing ? `tracked file ${path} is missing from the work tree ${root}`
    : f.code === 'ELOOP' ? `tracked file ${path} is a symlink in the work tree ${root}, not a regular file`
      : `cannot read tracked file ${path}: ${f.message}`;
  return new UpshiftError('E_WORKTREE', message, { details: { path, code: f.code } });
}

/**
 * SHA-256 of each file's bytes. Self-contained on purpose: workers run its source text
 * (`Function.prototype.toString`), so it takes its modules as arguments and closes over
 * nothing. `buf` is reused scratch space; files larger than it are hashed incrementally.
 */
function hashFiles(paths: string[], io: typeof fs, crypto: typeof nodeCrypto, buf: Buffer): ReadResult {
  // crypto.hash (Node ≥ 20.12) skips the Hash object, which matters for thousands of small files.
  const oneShot: (alg: string, data: Buffer, enc: 'hex') => string =
    typeof crypto.hash === 'function' ? crypto.hash : (alg, data) => crypto.createHash(alg).update(data).digest('hex');
  const hex = new Array<string>(paths.length);
  let bytes = 0;
  for (let i = 0; i < paths.length; i++) {
    let fd: number;
    try {
      // a tracked regular file replaced by a symlink is not followed (ELOOP): not what was committed
      fd = io.openSync(paths[i]!, io.constants.O_RDONLY | io.constants.O_NOFOLLOW);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return { failed: { path: paths[i]!, code: e.code ?? '', message: e.message } };
    }
    try {
      let hasher: nodeCrypto.Hash | null = null;
      for (;;) {
        let filled = 0;
        let n: number;
        while (filled < buf.length && (n = io.readSync(fd, buf, filled, buf.length - filled, null)) > 0) filled += n;
        bytes += filled;
        if (hasher === null && filled < buf.length) {
          hex[i] = oneShot('sha256', buf.subarray(0, filled), 'hex');
          break;
        }
        hasher ??= crypto.createHash('sha256');
        hasher.update(buf.subarray(0, filled));
        if (filled < buf.length) {
          hex[i] = hasher.digest('hex');
          break;
        }
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return { failed: { path: paths[i]!, code: e.code ?? '', message: e.message } };
    } finally {
      io.closeSync(fd);
    }
  }
  return { hex, bytes };
}

// Evaluated as a CommonJS script, so it runs the same under a TypeScript loader and from dist.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const hashFiles = ${hashFiles.toString()};
const scratch = Buffer.allocUnsafe(${SCRATCH_BYTES});
parentPort.on('message', ({ start, paths }) => {
  parentPort.postMessage({ start, result: hashFiles(paths, require('node:fs'), require('node:crypto'), scratch) });
});
`;

/**
 * Reads chunk by chunk. The calling thread takes a chunk at a time and yields between them,
 * so HTTP and gossip are never held up for long; workers take chunks too once they have
 * booted. On a busy machine a worker may start late and do little, and nothing waits for it.
 */
async function hashChunks(paths: string[], workerCount: number, callingThreadReads: boolean): Promise<ReadResult> {
  const hex = new Array<string>(paths.length);
  let bytes = 0;
  let next = 0;
  let inFlight = 0;
  if (paths.length === 0) return { hex, bytes };
  const pool: Worker[] = [];
  const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  try {
    return await new Promise<ReadResult>((done, fail) => {
      let over = false;
      const finish = (r: ReadResult | UpshiftError): void => {
        if (over) return;
        over = true;
        if (r instanceof UpshiftError) fail(r);
        else done(r);
      };
      const claim = (): number | null => {
        if (over || next >= paths.length) return null;
        inFlight++;
        const start = next;
        next = Math.min(paths.length, next + CHUNK_FILES);
        return start;
      };
      const record = (start: number, r: ReadResult): void => {
        inFlight--;
        if ('failed' in r) return finish(r);
        for (let i = 0; i < r.hex.length; i++) hex[start + i] = r.hex[i]!;
        bytes += r.bytes;
        if (next >= paths.length && inFlight === 0) finish({ hex, bytes });
      };
      const feed = (w: Worker): void => {
        const start = claim();
        if (start !== null) w.postMessage({ start, paths: paths.slice(start, start + CHUNK_FILES) });
      };
      for (let k = 0; k < workerCount; k++) {
        const w = new Worker(WORKER_SOURCE, { eval: true });
        pool.push(w);
        w.once('online', () => feed(w));
        w.on('message', ({ start, result }: { start: number; result: ReadResult }) => {
          record(start, result);
          feed(w);
        });
        w.on('error', (err) => finish(new UpshiftError('E_INTERNAL', `code hash worker failed: ${err.message}`, { cause: err })));
        w.on('exit', (code) => finish(new UpshiftError('E_INTERNAL', `code hash worker exited early with code ${code}`)));
      }
      const step = (): void => {
        const start = claim();
        if (start === null) return;
        record(start, hashFiles(paths.slice(start, start + CHUNK_FILES), fs, nodeCrypto, scratch));
        setImmediate(step);
      };
      if (callingThreadReads) step();
    });
  } finally {
    await Promise.all(pool.map((w) => w.removeAllListeners('exit').terminate()));
  }
}
