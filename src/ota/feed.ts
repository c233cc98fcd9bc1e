// The release feed (SPEC "OTA"): GitHub Releases API JSON (`tag_name`, `name`, `prerelease`,
// `published_at`, `assets[]` with `name`, `size`, `browser_download_url`), from an HTTP(S)
// URL or a file path. The feed is unsigned, as GitHub's is: it only says where to look.
// Read with a byte cap, parsed strictly enough to refuse junk, and capped in releases.
import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { UpshiftError } from '../core/errors.js';
import { jsonTooDeep } from '../core/json-depth.js';
import { originAllowed, type Fetched } from './download.js';

const asset = z.object({
  name: z.string().min(1).max(255),
  size: z.int().min(0),
  browser_download_url: z.string().min(1).max(4096),
  /** GitHub's own `sha256:HEX` since 2025; what `ota publish` writes too. */
  digest: z.string().nullable().optional(),
});

const release = z.object({
  tag_name: z.string().min(1).max(255),
  name: z.string().nullable().optional(),
  draft: z.boolean().optional(),
  prerelease: z.boolean().optional(),
  published_at: z.string().nullable().optional(),
  assets: z.array(asset).max(100),
});

export type Release = z.infer<typeof release>;
export type Asset = z.infer<typeof asset>;

export interface FeedLimits {
  maxBytes: number;
  maxReleases: number;
}

/** Parse feed bytes: JSON, an array, at most maxReleases, each in the Releases shape. */
export function parseFeed(text: string, limits: FeedLimits, where: string): Release[] {
  if (jsonTooDeep(text)) {
    throw new UpshiftError('E_FEED_PARSE',
      `feed ${where} is nested too deeply to be a release list`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UpshiftError('E_FEED_PARSE', `feed ${where} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(raw)) throw new UpshiftError('E_FEED_PARSE', `feed ${where} is not a JSON array of releases`);
  if (raw.length > limits.maxReleases) {
    throw new UpshiftError('E_FEED_TOO_LARGE', `feed ${where} lists ${raw.length} releases, more than ota.max_releases (${limits.maxReleases})`, {
      details: { releases: raw.length, max: limits.maxReleases },
    });
  }
  const parsed = z.array(release).safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const at = first ? `${first.path.join('.')}: ${first.message}` : 'invalid';
    throw new UpshiftError('E_FEED_PARSE',
      `feed ${where} is not in the GitHub Releases shape (${at})`,
      { details: { issues: parsed.error.issues.length } },
    );
  }
  return parsed.data;
}

/** Read the feed: a file path, or an http(s) URL fetched with the same caps as any download. */
export async function readFeed(
  feed: string,
  limits: FeedLimits,
  get: (url: string, maxBytes: number) => Promise<Fetched>,
): Promise<{ releases: Release[]; base: string }> {
  if (/^https?:\/\//i.test(feed)) {
    const got = await get(feed, limits.maxBytes);
    return { releases: parseFeed(got.text, limits, feed), base: got.url };
  }
  let size: number;
  try {
    size = (await stat(feed)).size;
  } catch (err) {
    throw new UpshiftError('E_FETCH', `cannot read feed ${feed}: ${(err as Error).message}`, { cause: err });
  }
  if (size > limits.maxBytes) {
    throw new UpshiftError('E_FEED_TOO_LARGE',
      `feed ${feed} is ${size} bytes, over ota.max_feed_bytes (${limits.maxBytes})`,
    );
  }
  const text = await readFile(feed, 'utf8');
  return { releases: parseFeed(text, limits, feed), base: new URL(`file://${feed}`).href };
}

/**
 * An asset's absolute URL: relative ones resolve against the feed's. A file feed's assets
 * must stay below the feed's directory; an http one's under ota.allow (or the feed's origin).
 */
export function assetUrl(a: Asset, base: string, allow: readonly string[]): string {
  let url: URL;
  try {
    url = new URL(a.browser_download_url, base);
  } catch {
    throw new UpshiftError('E_OTA_ORIGIN',
      `asset ${a.name}: ${JSON.stringify(a.browser_download_url.slice(0, 200))} is not a URL`,
    );
  }
  const b = new URL(base);
  if (b.protocol === 'file:') {
    const dir = b.pathname.slice(0, b.pathname.lastIndexOf('/') + 1);
    if (url.protocol !== 'file:' || !url.pathname.startsWith(dir) || url.pathname.includes('/../')) {
      throw new UpshiftError('E_OTA_ORIGIN',
        `asset ${a.name} of a file feed must lie below ${dir}, not at ${url.href}`,
      );
    }
    return url.href;
  }
  if (!originAllowed(url.href, allow, base)) {
    throw new UpshiftError('E_OTA_ORIGIN', `asset ${a.name} at ${url.origin}${url.pathname} is not under ota.allow`, {
      details: { asset: a.name, url: `${url.origin}${url.pathname}` },
    });
  }
  return url.href;
}
