// SPEC step 2, bundle form: "download and verify a bundle (sha256, length cap, tar entries
// pre-scanned: no links, `..`, absolute paths)"; "Artifact URLs come only from a signed
// manifest and must match an allowlist." The url, sha256 and length are the manifest's.
// node-tar extracts a hostile archive with warnings only, so nothing is extracted until the
// bytes match the manifest and every entry has been read once and found harmless.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join, posix, win32 } from 'node:path';
// node-tar is loaded when a bundle is unpacked: most nodes never get one
import type { ReadEntry } from 'tar';
import { UpshiftError } from '../../core/errors.js';

export interface BundleRequest {
  /** From the signed manifest. */
  url: string;
  sha256: string; // 64 lowercase hex
  length: number; // exact byte length of the tarball
  /** The release dir to create; must not exist yet (E_WORKTREE if it does). */
  dir: string;
  /** app.bundles.allow: URL prefixes; the url must start with one of them (E_BUNDLE_PATH otherwise, nothing downloaded). */
  allow: readonly string[];
  /** app.bundles.max_bytes: refuse before downloading when length > maxBytes (E_BUNDLE_INTEGRITY). */
  maxBytes: number;
  /** app.bundles.max_unpacked_bytes: the sum of the entries' sizes (E_BUNDLE_LIMIT past it). */
  maxUnpackedBytes: number;
  /** app.bundles.max_entries: files and directories together (E_BUNDLE_LIMIT past it). */
  maxEntries: number;
  /** Whole download; E_TIMEOUT (or E_FETCH) when exceeded. */
  timeoutMs: number;
  signal?: AbortSignal; // abort → E_CANCELLED
}

const SHA256 = /^[0-9a-f]{64}$/;
const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
// POSIX ustar: '0', NUL (pre-POSIX) and '7' are all regular files; node-tar writes them alike.
const REGULAR_FILE = new Set(['File', 'OldFile', 'ContiguousFile']);
// node-tar's own limit; a deeper path fails mid-extraction, so the scan refuses it first.
const MAX_DEPTH = 1024;

const parseHttp = (url: string): URL | null => {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
  } catch {
    return null;
  }
};

/** For messages: no credentials, no query (a presigned URL's signature lives there). */
const shown = (url: string): string => {
  const u = parseHttp(url);
  return u ? `${u.origin}${u.pathname}` : '(not an http(s) URL)';
};

/**
 * Parsed, normalized URLs are compared: same scheme, same host and port, and the path equal
 * to the prefix's or below it. A prefix without a trailing slash still ends at a segment
 * boundary (`/app` allows `/app/x`, not `/apple`). Userinfo anywhere, a query or fragment in a
 * prefix, and percent-encoded slashes in the path (a server may decode them into `..` steps
 * after the check) never match.
 */
export function bundleUrlAllowed(url: string, allow: readonly string[]): boolean {
  const u = parseHttp(url);
  if (!u || u.username !== '' || u.password !== '' || /%2f|%5c/i.test(u.pathname)) return false;
  return allow.some((prefix) => {
    const p = parseHttp(prefix);
    if (!p || p.username !== '' || p.password !== '' || p.search !== '' || p.hash !== '') return false;
    if (p.protocol !== u.protocol || p.host !== u.host) return false;
    const below = p.pathname.endsWith('/') ? p.pathname : `${p.pathname}/`;
    return u.pathname === p.pathname || u.pathname.startsWith(below);
  });
}

/**
 * What the signed bytes themselves fail: an entry, a limit, a damaged archive. The same bytes
 * fail the same way on every attempt, so the apply marks the version bad instead of retrying.
 */
export class BundleContentError extends UpshiftError {}

/**
 * Download, verify, pre-scan, then extract into `req.dir`. E_BUNDLE_PATH, E_BUNDLE_INTEGRITY,
 * E_BUNDLE_LIMIT, E_FETCH (retryable), E_TIMEOUT, E_CANCELLED or E_WORKTREE; refusals of the
 * verified bytes are BundleContentError. On failure neither `req.dir` nor the temp file is
 * left behind.
 */
export async function fetchBundle(req: BundleRequest): Promise<void> {
  const url = shown(req.url);
  if (!bundleUrlAllowed(req.url, req.allow)) {
    throw new UpshiftError('E_BUNDLE_PATH', `bundle URL ${url} is not under app.bundles.allow`, { details: { url } });
  }
  if (!SHA256.test(req.sha256) || !Number.isSafeInteger(req.length) || req.length <= 0) {
    throw new UpshiftError('E_BUNDLE_INTEGRITY', `bundle ${url}: sha256 must be 64 lowercase hex and length a positive integer`, { details: { url, sha256: req.sha256, length: req.length } });
  }
  if (req.length > req.maxBytes) {
    throw new UpshiftError('E_BUNDLE_INTEGRITY', `bundle ${url} is ${req.length} bytes, over app.bundles.max_bytes (${req.maxBytes})`, { details: { url, length: req.length, maxBytes: req.maxBytes } });
  }
  if (existsSync(req.dir)) throw new UpshiftError('E_WORKTREE', `release dir ${req.dir} already exists; a release is always fetched fresh`);
  throwIfCancelled(req.signal, url);

  // Next to the release dir, so it is on the same filesystem; a fixed name, so a download
  // cut short by a crash is replaced by the next attempt instead of piling up.
  const parent = dirname(req.dir);
  mkdirSync(parent, { recursive: true });
  const tmp = join(parent, `.${basename(req.dir)}.bundle.part`);
  try {
    await download(req, tmp, url);
    await extractBundle(tmp, req.dir, req);
  } finally {
    rmSync(tmp, { force: true });
  }
}

export type ExtractLimits = Pick<BundleRequest, 'maxUnpackedBytes' | 'maxEntries' | 'signal'>;

/** Only the pre-scan (nothing written): for a caller that refuses a bundle before any apply begins. */
export async function scanBundle(file: string, limits: ExtractLimits): Promise<void> {
  await scan(file, join(dirname(file), 'release'), limits);
}

/**
 * A tarball already on disk and already checked against what was signed (the manifest's
 * sha256, or the OTA check's): pre-scan every entry, then extract into `dir`, which must
 * not exist. The same refusals as fetchBundle; on failure `dir` is not left behind.
 */
export async function extractBundle(file: string, dir: string, limits: ExtractLimits): Promise<void> {
  if (existsSync(dir)) throw new UpshiftError('E_WORKTREE', `release dir ${dir} already exists; a release is always fetched fresh`);
  let created = false;
  try {
    await scan(file, dir, limits);
    throwIfCancelled(limits.signal, basename(file));
    try {
      mkdirSync(dir); // not recursive: EEXIST if someone made it meanwhile
    } catch (err) {
      throw new UpshiftError('E_WORKTREE', `cannot create release dir ${dir}: ${(err as Error).message}`, { cause: err });
    }
    created = true;
    await unpack(file, dir);
  } catch (err) {
    if (created) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function throwIfCancelled(signal: AbortSignal | undefined, url: string): void {
  if (signal?.aborted) throw new UpshiftError('E_CANCELLED', `bundle ${url} cancelled`);
}

async function download(req: BundleRequest, tmp: string, url: string): Promise<void> {
  // The reason the download was stopped travels in the signal, so an abort from any await
  // below (fetch, a body read) comes out as E_TIMEOUT or E_CANCELLED rather than a network error.
  rmSync(tmp, { force: true });
  const file = await open(tmp, 'wx', 0o600);
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new UpshiftError('E_TIMEOUT', `bundle ${url} not downloaded within ${req.timeoutMs} ms`)), req.timeoutMs);
  const cancel = (): void => ctl.abort(new UpshiftError('E_CANCELLED', `bundle ${url} cancelled`));
  req.signal?.addEventListener('abort', cancel, { once: true });
  if (req.signal?.aborted) cancel(); // aborted while the file was being opened
  try {
    const res = await get(req, ctl.signal);
    if (!res.ok) {
      throw new UpshiftError('E_FETCH', `bundle ${url}: HTTP ${res.status}`, { details: { url, status: res.status } });
    }
    const announced = res.headers.get('content-length');
    const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
    if (announced !== null && !encoded && Number(announced) !== req.length) {
      throw new UpshiftError('E_BUNDLE_INTEGRITY', `bundle ${url}: the server announces ${announced} bytes, the manifest says ${req.length}`, { details: { url, length: req.length, announced: Number(announced) } });
    }
    const hash = createHash('sha256');
    let got = 0;
    // Leaving the loop early cancels the body, which closes the connection: the rest of an
    // oversized answer is never read.
    for await (const chunk of res.body ?? []) {
      got += chunk.byteLength;
      if (got > req.length) {
        throw new UpshiftError('E_BUNDLE_INTEGRITY', `bundle ${url}: more than the ${req.length} bytes the manifest says`, { details: { url, length: req.length } });
      }
      hash.update(chunk);
      await file.write(chunk);
    }
    const sha256 = hash.digest('hex');
    if (got !== req.length || sha256 !== req.sha256) {
      throw new UpshiftError('E_BUNDLE_INTEGRITY', `bundle ${url}: got ${got} bytes with sha256 ${sha256}, the manifest says ${req.length} bytes with sha256 ${req.sha256}`, {
        details: { url, length: req.length, got, sha256: req.sha256, actual: sha256 },
      });
    }
  } catch (err) {
    if (err instanceof UpshiftError) throw err;
    const reason: unknown = ctl.signal.reason;
    if (reason instanceof UpshiftError) throw reason;
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    throw new UpshiftError('E_FETCH', `cannot download bundle ${url}: ${(err as Error).message}${cause}`, { cause: err, details: { url } });
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener('abort', cancel);
    ctl.abort(); // whatever is still open (a body left unread after an error) is closed now
    await file.close();
  }
}

/**
 * Redirects are followed by hand, at most MAX_REDIRECTS, and every hop must pass the
 * allowlist too (a CDN redirect is common; `redirect: 'follow'` would go anywhere).
 * `accept-encoding: identity`: fetch would otherwise undo a Content-Encoding and the bytes
 * hashed would not be the bytes signed.
 */
async function get(req: BundleRequest, signal: AbortSignal): Promise<Response> {
  let url = req.url;
  for (let hop = 0; ; hop++) {
    const res = await fetch(url, { redirect: 'manual', signal, headers: { 'accept-encoding': 'identity' } });
    const location = res.headers.get('location');
    if (!REDIRECTS.has(res.status) || location === null) return res;
    await res.body?.cancel();
    if (hop === MAX_REDIRECTS) throw new UpshiftError('E_FETCH', `bundle ${shown(req.url)}: more than ${MAX_REDIRECTS} redirects`, { details: { url: shown(req.url) } });
    const next = new URL(location, url).href;
    if (!bundleUrlAllowed(next, req.allow)) {
      throw new UpshiftError('E_BUNDLE_PATH', `bundle ${shown(req.url)} redirects to ${shown(next)}, which is not under app.bundles.allow`, { details: { url: shown(req.url), location: shown(next) } });
    }
    url = next;
  }
}

/**
 * Why an entry may not be extracted into `dir`, or null. Paths are read the way node-tar
 * reads them on POSIX (it strips win32 roots such as `c:` and splits on `\` when looking for
 * `..`), so what passes here is exactly what it will write.
 */
function entryProblem(path: string, type: string, dir: string): string | null {
  if (!REGULAR_FILE.has(type) && type !== 'Directory') return `is a ${type} entry; only regular files and directories are allowed`;
  return pathProblem(path, type, dir);
}

function pathProblem(path: string, type: string, dir: string): string | null {
  if (path.includes('\0')) return 'contains a NUL byte';
  if (posix.isAbsolute(path) || win32.isAbsolute(path) || win32.parse(path).root !== '') return 'is an absolute path';
  const segments = path.split(/[\\/]/);
  if (segments.includes('..')) return 'has a ".." segment';
  if (segments.length > MAX_DEPTH) return `is more than ${MAX_DEPTH} levels deep`;
  // a top-level .git would make the code hash read git's index instead of the files themselves
  if (segments.find((s) => s !== '' && s !== '.') === '.git') return 'is git metadata (.git), which a bundle must not carry';
  const target = posix.resolve(dir, path);
  if (target === posix.resolve(dir)) return type === 'Directory' ? null : 'is the release directory itself';
  if (!target.startsWith(`${posix.resolve(dir)}/`)) return 'resolves outside the release directory';
  return null;
}

/**
 * Which rule an entry broke, stable for scripts and tests (`details.check`): the code stays
 * E_BUNDLE_PATH for all of them, as the gossip path has always answered.
 */
function checkOf(problem: string, type: string): string {
  if (type === 'SymbolicLink') return 'symlink';
  if (type === 'Link') return 'hardlink';
  if (type === 'CharacterDevice' || type === 'BlockDevice' || type === 'FIFO') return 'device';
  if (problem.startsWith('is a ')) return 'type';
  if (problem.includes('".."')) return 'dotdot';
  if (problem.includes('absolute')) return 'absolute';
  return 'path';
}

const entryError = (path: string, problem: string, type = 'File'): UpshiftError =>
  new BundleContentError('E_BUNDLE_PATH', `bundle entry ${JSON.stringify(path)} ${problem}`, {
    details: { entry: path, check: checkOf(problem, type) },
  });

const limitError = (path: string, what: string, limits: Record<string, number>): UpshiftError =>
  new BundleContentError('E_BUNDLE_LIMIT', `bundle entry ${JSON.stringify(path)} makes ${what}; nothing was extracted`, { details: { entry: path, ...limits } });

/** node-tar's own bomb guard (a gzip stream over 1000:1) is a limit too; anything else is damage. */
const parseError = (err: Error): UpshiftError =>
  /decompression ratio/.test(err.message)
    ? new BundleContentError('E_BUNDLE_LIMIT', `bundle refused: ${err.message} (node-tar's guard against decompression bombs)`, { cause: err })
    : new BundleContentError('E_BUNDLE_INTEGRITY', `bundle is not a readable tar archive: ${err.message}`, { cause: err });

/**
 * Read every entry once without writing anything, counting entries and unpacked bytes (each
 * entry's size is in its header, so a huge one is refused before its body is inflated).
 * Strict: a damaged archive is an error. node-tar emits its errors from inside write() and
 * zlib callbacks, so they are collected like the entries' problems, never left in a promise
 * nobody awaits yet; the first problem stops the scan.
 */
async function scan(tmp: string, dir: string, limits: Pick<BundleRequest, 'maxUnpackedBytes' | 'maxEntries'>): Promise<void> {
  let bad: UpshiftError | undefined;
  let entries = 0;
  let bytes = 0;
  const { Parser } = await import('tar');
  const parser = new Parser({ strict: true });
  const count = (entry: ReadEntry): void => {
    entries += 1;
    bytes += entry.size ?? 0;
    if (entries > limits.maxEntries) {
      bad ??= limitError(entry.path, `more than ${limits.maxEntries} entries, over app.bundles.max_entries`, { maxEntries: limits.maxEntries });
    } else if (bytes > limits.maxUnpackedBytes) {
      bad ??= limitError(entry.path, `${bytes} unpacked bytes, over app.bundles.max_unpacked_bytes (${limits.maxUnpackedBytes})`, { maxUnpackedBytes: limits.maxUnpackedBytes });
    }
  };
  parser.on('entry', (entry: ReadEntry) => {
    count(entry);
    const problem = entryProblem(entry.path, entry.type, dir);
    if (problem !== null) bad ??= entryError(entry.path, problem, entry.type);
    entry.resume();
  });
  // Entry types node-tar does not know (sparse files, volume headers, ...) and oversized
  // metadata skip the 'entry' event; they are refused all the same.
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    count(entry);
    bad ??= entryError(entry.path, `is a ${entry.type} entry; only regular files and directories are allowed`, entry.type);
  });
  // Settles, never rejects: the error itself is kept in `bad`.
  const settled = new Promise<void>((ok) => {
    parser.on('end', ok);
    parser.on('error', (err: Error) => {
      bad ??= parseError(err);
      ok();
    });
  });
  const file = createReadStream(tmp);
  try {
    for await (const chunk of file) {
      let more: boolean;
      try {
        more = parser.write(chunk as Buffer);
      } catch (err) {
        bad ??= parseError(err as Error); // node-tar reports by event; a throw is the archive's doing all the same
        break;
      }
      if (!bad && !more) await Promise.race([new Promise((ok) => parser.once('drain', ok)), settled]);
      if (bad) break;
    }
    if (!bad) {
      parser.end();
      await settled;
    }
  } catch (err) {
    bad ??= new UpshiftError('E_WORKTREE', `cannot read the downloaded bundle ${tmp}: ${(err as Error).message}`, { cause: err });
  } finally {
    file.destroy();
  }
  if (bad) {
    parser.abort(new Error('scan stopped')); // closes node-tar's inflater; its 'error' lands in `bad` (already set)
    throw bad;
  }
}

async function unpack(tmp: string, dir: string): Promise<void> {
  let bad: UpshiftError | undefined;
  const tar = await import('tar');
  try {
    await tar.extract({
      file: tmp,
      cwd: dir,
      strict: true,
      preserveOwner: false, // node-tar would chown as root by default
      filter: (path, entry) => {
        if (!(entry instanceof tar.ReadEntry)) return false;
        // Checked again: the scan read the same file, but this costs nothing.
        const problem = entryProblem(path, entry.type, dir);
        if (problem !== null) {
          bad ??= entryError(path, problem);
          return false;
        }
        // Git keeps one bit of a file's mode (100755 if the owner may execute it, else
        // 100644), and so does the code hash; nothing else from the archive (setuid,
        // unreadable, world-writable) reaches the disk.
        entry.mode = entry.type === 'Directory' || ((entry.mode ?? 0) & 0o100) !== 0 ? 0o755 : 0o644;
        return true;
      },
    });
  } catch (err) {
    throw new UpshiftError('E_WORKTREE', `cannot extract bundle into ${dir}: ${(err as Error).message}`, { cause: err });
  }
  if (bad) throw bad;
}
