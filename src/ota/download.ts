// Downloads for the OTA check: small documents (feed, manifest) with a byte cap, and the
// bundle into the private staging dir with HTTP Range resume of an interrupted transfer,
// an exact length, a sha256, a minimum rate over a window, and the check's overall
// deadline (an AbortSignal whose reason is the UpshiftError to report). Redirects are
// followed by hand, each hop checked against ota.allow; `accept-encoding: identity`, so
// the bytes hashed are the bytes served.
import { createHash } from 'node:crypto';
import { open, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { UpshiftError } from '../core/errors.js';
import { bundleUrlAllowed } from '../node/apply/bundle.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/** For messages: origin and path only (a presigned URL's signature lives in the query). */
export const shown = (url: string): string => {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(not a URL)';
  }
};

/** Under an ota.allow prefix; with an empty allowlist, the feed's own http(s) origin. */
export function originAllowed(url: string, allow: readonly string[], feed: string): boolean {
  if (allow.length > 0) return bundleUrlAllowed(url, allow);
  try {
    const u = new URL(url);
    const f = new URL(feed);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === f.origin && u.username === '' && u.password === '';
  } catch {
    return false;
  }
}

export interface Fetched {
  text: string;
  /** Where the answer came from after redirects. */
  url: string;
}

export interface HttpPolicy {
  allow: readonly string[];
  /** The feed's URL: the default allowed origin. */
  feed: string;
  /** The check's deadline and cancellation; its reason is thrown as is. */
  signal: AbortSignal;
  /** Bearer token for the feed's own origin; never sent anywhere else. */
  token?: string;
}

function authFor(url: string, policy: HttpPolicy): Record<string, string> {
  if (!policy.token) return {};
  try {
    return new URL(url).origin === new URL(policy.feed).origin ? { authorization: `Bearer ${policy.token}` } : {};
  } catch {
    return {};
  }
}

/** GET with redirects checked hop by hop (E_OTA_REDIRECT), errors mapped to the signal's reason or E_FETCH. */
async function get(url: string, policy: HttpPolicy, headers: Record<string, string> = {}): Promise<{ res: Response; url: string }> {
  let at = url;
  for (let hop = 0; ; hop++) {
    const all = { 'accept-encoding': 'identity', ...authFor(at, policy), ...headers };
    const res = await guarded(() => fetch(at, { redirect: 'manual', signal: policy.signal, headers: all }), policy.signal, at);
    const location = res.headers.get('location');
    if (!REDIRECTS.has(res.status) || location === null) return { res, url: at };
    await res.body?.cancel();
    if (hop === MAX_REDIRECTS) throw new UpshiftError('E_FETCH', `${shown(url)}: more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, at).href;
    if (!originAllowed(next, policy.allow, policy.feed)) {
      throw new UpshiftError('E_OTA_REDIRECT', `${shown(at)} redirects to ${shown(next)}, which is not under ota.allow`, {
        details: { url: shown(at), location: shown(next) },
      });
    }
    at = next;
  }
}

async function guarded<T>(fn: () => Promise<T>, signal: AbortSignal, url: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw failure(err, signal, url);
  }
}

function failure(err: unknown, signal: AbortSignal, url: string): UpshiftError {
  if (err instanceof UpshiftError) return err;
  if (signal.aborted && signal.reason instanceof UpshiftError) return signal.reason;
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return new UpshiftError('E_FETCH',
    `cannot download ${shown(url)}: ${(err as Error).message}${cause}`,
    { cause: err, details: { url: shown(url) } },
  );
}

/** A small document (feed, manifest): 200 only, at most maxBytes. */
export async function fetchText(
  url: string, maxBytes: number, policy: HttpPolicy, tooLarge: 'E_FEED_TOO_LARGE' | 'E_DOWNLOAD_TOO_LARGE',
): Promise<Fetched> {
  const { res, url: final } = await get(url, policy);
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new UpshiftError('E_FETCH',
      `${shown(final)}: HTTP ${res.status}`,
      { details: { url: shown(final), status: res.status } },
    );
  }
  const chunks: Uint8Array[] = [];
  let got = 0;
  await guarded(async () => {
    for await (const chunk of res.body ?? []) {
      got += chunk.byteLength;
      if (got > maxBytes) throw new UpshiftError(tooLarge,
        `${shown(final)} is longer than ${maxBytes} bytes`,
        { details: { url: shown(final), max: maxBytes } },
      );
      chunks.push(chunk);
    }
  }, policy.signal, final);
  return { text: Buffer.concat(chunks).toString('utf8'), url: final };
}

export interface FileDownload {
  url: string;
  /** Created (mode 0600) inside the staging dir. */
  dest: string;
  length: number;
  sha256: string;
  minRate: number;
  rateWindowMs: number;
  resumeAttempts: number;
  onProgress?: (got: number, total: number) => void;
  /** Each resume, for the log. */
  onResume?: (from: number, why: string) => void;
}

/**
 * Download to `dest` with exactly `length` bytes whose sha256 is `sha256`. A transfer cut
 * off mid-body is resumed from the byte it reached (`Range: bytes=N-`, `If-Range` when the
 * server named a validator); a 200 to a Range request is taken as the whole file, from zero.
 * Returns the resumes.
 */
export async function downloadFile(req: FileDownload, policy: HttpPolicy): Promise<{ resumes: number }> {
  await checkRoom(dirname(req.dest), req.length);
  const file = await open(req.dest, 'wx', 0o600);
  let hash = createHash('sha256');
  let got = 0;
  let resumes = 0;
  let validator: string | null = null;
  // The rate is judged per window by a timer, so a server that sends nothing at all is caught too.
  const slow = new AbortController();
  let windowStart = 0;
  const rateTimer = req.minRate > 0 ? setInterval(() => {
    const rate = ((got - windowStart) * 1000) / req.rateWindowMs;
    if (rate < req.minRate) {
      slow.abort(new UpshiftError('E_DOWNLOAD_SLOW', `${shown(req.url)}: ${Math.round(rate)} B/s over the last ${req.rateWindowMs} ms, below ota.min_rate (${req.minRate} B/s)`, {
        details: { url: shown(req.url), rate: Math.round(rate), min_rate: req.minRate, got, length: req.length },
      }));
    }
    windowStart = got;
  }, req.rateWindowMs) : null;
  const signal = AbortSignal.any([policy.signal, slow.signal]);
  const p: HttpPolicy = { ...policy, signal };
  try {
    for (;;) {
      const headers: Record<string, string> = got > 0 ? { range: `bytes=${got}-`, ...(validator ? { 'if-range': validator } : {}) } : {};
      const { res, url } = await get(req.url, p, headers);
      if (got > 0 && res.status === 200) {
        // the server ignored the Range (or the file changed since, per If-Range): this answer is the whole file
        await file.truncate(0);
        got = 0;
        windowStart = 0;
        hash = createHash('sha256');
        req.onResume?.(0, 'the server answered the Range request with the whole file; starting over');
      }
      if (res.status !== 200 && res.status !== 206) {
        await res.body?.cancel();
        throw new UpshiftError('E_FETCH',
          `${shown(url)}: HTTP ${res.status}`,
          { details: { url: shown(url), status: res.status } },
        );
      }
      if (res.status === 206) checkContentRange(res.headers.get('content-range'), got, req.length, url);
      validator = res.headers.get('etag') ?? res.headers.get('last-modified') ?? validator;
      const announced = res.headers.get('content-length');
      if (announced !== null && Number(announced) > req.length - got) {
        await res.body?.cancel();
        throw tooLarge(url, req.length, `the server announces ${announced} more bytes after byte ${got}`);
      }
      try {
        for await (const chunk of res.body ?? []) {
          if (got + chunk.byteLength > req.length) throw tooLarge(url, req.length, 'the body runs past it');
          hash.update(chunk);
          await writeAll(file, chunk, got);
          got += chunk.byteLength;
          req.onProgress?.(got, req.length);
        }
      } catch (err) {
        const e = err instanceof UpshiftError ? err : failure(err, signal, url);
        // only a transfer cut off is resumed; a refusal, the deadline or a slow server is final
        if (e.code !== 'E_FETCH' || signal.aborted || resumes >= req.resumeAttempts || got === 0) throw e;
        resumes += 1;
        req.onResume?.(got, e.message);
        continue;
      }
      if (got < req.length && resumes < req.resumeAttempts && !signal.aborted) {
        resumes += 1;
        req.onResume?.(got, `the body ended at byte ${got} of ${req.length}`);
        continue;
      }
      break;
    }
    if (got < req.length) {
      throw new UpshiftError('E_FETCH', `${shown(req.url)}: the transfer ended at byte ${got} of ${req.length} after ${resumes} resume(s)`, {
        details: { url: shown(req.url), got, length: req.length, resumes },
      });
    }
    const digest = hash.digest('hex');
    if (digest !== req.sha256) {
      throw new UpshiftError('E_CHECKSUM', `${shown(req.url)}: got ${got} bytes with sha256 ${digest}, expected ${req.length} bytes with sha256 ${req.sha256}`, {
        details: { url: shown(req.url), got, length: req.length, sha256: digest, expected: req.sha256 },
      });
    }
    await file.sync();
    return { resumes };
  } finally {
    if (rateTimer) clearInterval(rateTimer);
    await file.close();
  }
}

function checkContentRange(header: string | null, from: number, length: number, url: string): void {
  const m = header === null ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header);
  if (!m || Number(m[1]) !== from || (m[3] !== '*' && Number(m[3]) !== length) || Number(m[2]) >= length) {
    throw new UpshiftError('E_DOWNLOAD_TOO_LARGE', `${shown(url)}: Content-Range ${JSON.stringify(header)} is not bytes ${from}-${length - 1}/${length}`, {
      details: { url: shown(url), content_range: header, from, length },
    });
  }
}

const tooLarge = (url: string, length: number, why: string): UpshiftError =>
  new UpshiftError('E_DOWNLOAD_TOO_LARGE',
    `${shown(url)}: longer than the ${length} bytes announced: ${why}`,
    { details: { url: shown(url), length } },
  );

/** At an explicit position: after a start-over the file offset would still be where the old transfer stopped. */
async function writeAll(file: Awaited<ReturnType<typeof open>>, chunk: Uint8Array, at: number): Promise<void> {
  try {
    await file.write(chunk, 0, chunk.byteLength, at);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw diskFull(`the disk filled while writing: ${(err as Error).message}`);
    throw err;
  }
}

/** Refuse before the first byte when the staging filesystem cannot hold the file (and as much again to extract). */
async function checkRoom(dir: string, length: number): Promise<void> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  if (free < length * 2) throw diskFull(`${dir} has ${free} bytes free; the bundle needs ${length} bytes and as much again to extract`, { free, length });
}

const diskFull = (message: string, details: Record<string, unknown> = {}): UpshiftError => new UpshiftError('E_DISK_FULL',
  message,
  { details },
);
