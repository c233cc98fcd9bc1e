// Computes the release code hash (format in core/code-hash.ts) of a work tree. Reading
// 20k small files is dominated by open/read/close syscalls, not by SHA-256, so the files
// are read synchronously in a tight loop with one reused buffer, spread over worker
// threads: the event loop stays free for HTTP and gossip, and two cores read at once.
import { execFile } from 'node:child_process';
import * as nodeCrypto from 'node:crypto';
import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { codeHashLines, contentKind, type CodeHashEntry } from '../core/code-hash.js';
import { UpshiftError } from '../core/errors.js';

export interface CodeHash {
  hash: string;
  files: number;
  /** Content bytes hashed (file bytes, symlink targets, gitlink ids). */
  bytes: number;
}

export interface CodeHashOptions {
  /** Worker threads for reading; 0 reads on the calling thread. Default: up to 2 cores. */
  workers?: number;
}

/** Below this many files, starting workers costs more than it saves. */
const PARALLEL_MIN_FILES = 2000;
/** Files per message: small enough to balance uneven sizes, big enough that messaging is noise. */
const CHUNK_FILES = 500;

export async function codeHash(dir: string, opts: CodeHashOptions = {}): Promise<CodeHash> {
  const root = resolve(dir);
  const index = await lsFiles(root);
  const sha = new Map<string, string>();
  const files: string[] = [];
  let bytes = 0;
  for (const e of index) {
    const kind = contentKind(e.mode, e.path);
    if (kind === 'file') {
      files.push(e.path);
    } else if (kind === 'symlink') {
      const target = readLinkOf(root, e.path);
      bytes += target.length;
      sha.set(e.path, sha256Hex(target));
    } else {
      bytes += e.oid.length;
      sha.set(e.path, sha256Hex(Buffer.from(e.oid)));
    }
  }

  const workers = opts.workers ?? Math.min(2, availableParallelism());
  const absolute = files.map((p) => `${root}/${p}`);
  const read = workers > 0 && files.length >= PARALLEL_MIN_FILES ? await hashInWorkers(absolute, workers) : hashHere(absolute);
  if ('failed' in read) throw readError(read.failed, root);
  for (let i = 0; i < files.length; i++) sha.set(files[i]!, read.hex[i]!);
  bytes += read.bytes;

  const entries: CodeHashEntry[] = index.map((e) => ({ path: e.path, mode: e.mode, contentSha256: sha.get(e.path)! }));
  const outer = nodeCrypto.createHash('sha256');
  for (const line of codeHashLines(entries)) outer.update(line);
  return { hash: outer.digest('hex'), files: entries.length, bytes };
}

interface IndexEntry {
  mode: string;
  oid: string;
  path: string;
}

/** Tracked paths with their index mode, from `git ls-files -s -z`. */
async function lsFiles(root: string): Promise<IndexEntry[]> {
  const out = await new Promise<Buffer>((ok, fail) => {
    execFile('git', ['ls-files', '-s', '-z'], { cwd: root, encoding: 'buffer', maxBuffer: 1 << 30 }, (err, stdout, stderr) => {
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

function sha256Hex(data: Buffer): string {
  return nodeCrypto.createHash('sha256').update(data).digest('hex');
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
  const message = missing ? `tracked file ${path} is missing from the work tree ${root}` : `cannot read tracked file ${path}: ${f.message}`;
  return new UpshiftError('E_WORKTREE', message, { details: { path, code: f.code } });
}

/**
 * SHA-256 of each file's bytes. Self-contained on purpose: workers run its source text
 * (`Function.prototype.toString`), so it takes its modules as arguments and closes over
 * nothing. Files larger than the buffer are hashed incrementally.
 */
function hashFiles(paths: string[], io: typeof fs, crypto: typeof nodeCrypto): ReadResult {
  const buf = Buffer.allocUnsafe(1 << 20);
  // crypto.hash (Node ≥ 20.12) skips the Hash object, which matters for thousands of small files.
  const oneShot: (alg: string, data: Buffer, enc: 'hex') => string =
    typeof crypto.hash === 'function' ? crypto.hash : (alg, data) => crypto.createHash(alg).update(data).digest('hex');
  const hex = new Array<string>(paths.length);
  let bytes = 0;
  for (let i = 0; i < paths.length; i++) {
    let fd: number;
    try {
      fd = io.openSync(paths[i]!, 'r');
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

function hashHere(paths: string[]): ReadResult {
  return hashFiles(paths, fs, nodeCrypto);
}

// Evaluated as a CommonJS script, so it runs the same under a TypeScript loader and from dist.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const hashFiles = ${hashFiles.toString()};
parentPort.on('message', ({ start, paths }) => {
  parentPort.postMessage({ start, result: hashFiles(paths, require('node:fs'), require('node:crypto')) });
});
`;

/** Hands out chunks to whichever worker is free; the first failure stops everything. */
async function hashInWorkers(paths: string[], count: number): Promise<ReadResult> {
  const pool = Array.from({ length: count }, () => new Worker(WORKER_SOURCE, { eval: true }));
  const hex = new Array<string>(paths.length);
  let bytes = 0;
  let next = 0;
  let pending = 0;
  try {
    return await new Promise<ReadResult>((done, fail) => {
      const feed = (w: Worker): void => {
        if (next >= paths.length) {
          if (pending === 0) done({ hex, bytes });
          return;
        }
        const start = next;
        next = Math.min(paths.length, next + CHUNK_FILES);
        pending++;
        w.postMessage({ start, paths: paths.slice(start, next) });
      };
      for (const w of pool) {
        w.on('message', ({ start, result }: { start: number; result: ReadResult }) => {
          pending--;
          if ('failed' in result) return done(result);
          for (let i = 0; i < result.hex.length; i++) hex[start + i] = result.hex[i]!;
          bytes += result.bytes;
          feed(w);
        });
        w.on('error', (err) => fail(new UpshiftError('E_INTERNAL', `code hash worker failed: ${err.message}`, { cause: err })));
        w.on('exit', (code) => fail(new UpshiftError('E_INTERNAL', `code hash worker exited early with code ${code}`)));
        feed(w);
      }
    });
  } finally {
    await Promise.all(pool.map((w) => w.removeAllListeners('exit').terminate()));
  }
}
