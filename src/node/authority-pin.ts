// How this node reaches its authority. `join` decides it before anything is sent (a join
// token must not cross in clear text, an https authority must be pinned or CA-valid) and,
// after a join over https, keeps the decision beside the certificate (authority-tls.json)
// so the daemon's gossip to the authority's URL checks the same certificate.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { Config } from '../core/config.js';
import { UpshiftError } from '../core/errors.js';
import { normalizeFingerprint, type TlsCheck } from '../adapters/http-client.js';
import { isLoopbackHost } from '../core/hosts.js';
import { writeFileAtomic } from './identity.js';

export interface AuthorityTarget {
  url: URL;
  /** How an https authority is checked; null for http. */
  tls: TlsCheck | null;
}

/**
 * The URL policy of `join`: http only to loopback unless `insecure` (the token would cross
 * in clear text); https checked against `fingerprint` when given, else the system CAs.
 */
export function authorityTarget(authority: string, opts: { fingerprint?: string | undefined; insecure?: boolean | undefined }):
  AuthorityTarget {
  let url: URL;
  try {
    url = new URL(authority);
  } catch {
    throw new UpshiftError('E_USAGE', `--authority expects an http(s) URL like https://10.0.0.1:7400, got "${authority}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UpshiftError('E_USAGE', `--authority must be http or https, got ${url.protocol}`);
  }
  if (url.protocol === 'https:') {
    if (opts.insecure) {
      throw new UpshiftError('E_USAGE', '--insecure is only for http:// authorities; an https authority is pinned with --authority-fingerprint');
    }
    if (opts.fingerprint === undefined) return { url, tls: 'ca' };
    const pin = normalizeFingerprint(opts.fingerprint);
    if (!pin) {
      const message = `--authority-fingerprint expects sha256:HEX (64 hex digits) as printed by \`upshift fleet token\`, got "${opts.fingerprint}"`;
      throw new UpshiftError('E_USAGE', message);
    }
    return { url, tls: { pin } };
  }
  if (opts.fingerprint !== undefined) {
    throw new UpshiftError('E_USAGE', `--authority-fingerprint pins a TLS certificate; ${url.origin} is plain http`);
  }
  if (!isLoopbackHost(url.hostname) && !opts.insecure) {
    throw new UpshiftError('E_INSECURE', `${url.origin} is plain http beyond loopback: the join token would cross the network in clear text, `
      + 'and whoever sniffs it joins first. Serve the authority over https (config http.tls) or, on a network you trust, pass --insecure');
  }
  return { url, tls: null };
}

/** Where join keeps how to reach the authority: beside node.cert. */
export const authorityPinPath = (config: Config): string => join(dirname(config.node.cert), 'authority-tls.json');

const pinFileSchema = z.strictObject({
  origin: z.string().regex(/^https:\/\/[^\s/]+$/),
  tls: z.union([z.literal('ca'), z.strictObject({ pin: z.string().regex(/^sha256:[0-9a-f]{64}$/) })]),
});

/** What authority-tls.json holds after a join to `target`; null for a plain http authority. */
export function authorityPinText(target: AuthorityTarget): string | null {
  if (!target.tls || target.tls === 'none') return null;
  return `${JSON.stringify({ origin: target.url.origin, tls: target.tls }, null, 2)}\n`;
}

/** After a join over https: remember how the authority's certificate was checked. */
export async function writeAuthorityPin(config: Config, target: AuthorityTarget): Promise<string | null> {
  const text = authorityPinText(target);
  if (text === null) return null;
  const path = authorityPinPath(config);
  await writeFileAtomic(path, text);
  return path;
}

/**
 * The TLS checks for gossip peers, by origin: the authority's as `join` recorded it. A file
 * that is there but unreadable stops the daemon (E_CONFIG) rather than gossip unchecked.
 */
export function loadPeerTlsChecks(config: Config): Map<string, TlsCheck> {
  const path = authorityPinPath(config);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new UpshiftError('E_CONFIG', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let parsed;
  try {
    parsed = pinFileSchema.safeParse(JSON.parse(text));
  } catch {
    parsed = null;
  }
  if (!parsed?.success) throw new UpshiftError('E_CONFIG', `${path} is not what \`upshift join\` writes; run join again or remove it`);
  return new Map([[parsed.data.origin, parsed.data.tls]]);
}
