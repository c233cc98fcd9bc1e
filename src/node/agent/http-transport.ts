// Gossip over HTTP: POST the signed message to the peer's /v1/gossip and read its signed
// answer. Anything that goes wrong (refusal, timeout, oversized or garbled answer) is a lost
// message to the protocol, which is built to tolerate loss. Only addresses the URL policy
// accepts are called (core/peer-url.ts), a host name only if none of the addresses it
// resolves to is forbidden, and redirects are never followed: a peer cannot send us elsewhere.
// An https peer is checked as `tlsChecks` says for its origin (the authority, pinned by
// `join`); any other https peer is not verified: every message is signed by its sender's
// node key end to end, so TLS between peers only hides gossip from passive listeners.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isUpshiftError } from '../../core/errors.js';
import { jsonTooDeep } from '../../core/json-depth.js';
import { forbiddenAddress, PeerUrlPolicy } from '../../core/peer-url.js';
import type { PeerAddress, SignedMessage, Transport } from '../../gossip/ports.js';
import { smallRequest, type TlsCheck } from '../../adapters/http-client.js';

export interface HttpTransportOptions {
  /** Per request, connect to last byte (default 2 s). */
  timeoutMs?: number;
  /** Answers larger than this are dropped unread (gossip.max_body_bytes). */
  maxBodyBytes: number;
  /** Which addresses may be called (gossip.allow); default: any host that is not forbidden. */
  policy?: PeerUrlPolicy;
  /** How an https peer's certificate is checked, by origin; other https peers: not at all. */
  tlsChecks?: ReadonlyMap<string, TlsCheck>;
  /** Told when a pinned or CA-checked peer fails its check (the message is lost like any other). */
  onTlsRefused?: (url: string, message: string) => void;
}

export function gossipUrl(base: string): string {
  return `${base.replace(/\/+$/, '')}/v1/gossip`;
}

export function httpTransport(opts: HttpTransportOptions): Transport<SignedMessage> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const policy = opts.policy ?? new PeerUrlPolicy();
  return {
    checkUrl: (url) => void policy.check(url),
    async send(to: PeerAddress, wire: SignedMessage): Promise<SignedMessage | null> {
      try {
        policy.check(to.url);
      } catch {
        return null;
      }
      const url = new URL(gossipUrl(to.url));
      const check = url.protocol === 'https:' ? opts.tlsChecks?.get(url.origin) : undefined;
      const text = check && check !== 'none'
        ? await postChecked(url, JSON.stringify(wire), timeoutMs, opts, check)
        : await post(url, JSON.stringify(wire), timeoutMs, opts.maxBodyBytes);
      if (text === null || jsonTooDeep(text)) return null;
      try {
        const parsed = JSON.parse(text) as unknown;
        return isWire(parsed) ? parsed : null;
      } catch {
        return null;
      }
    },
  };
}

/** To a peer whose TLS certificate is pinned or CA-checked (adapters/http-client.ts). */
async function postChecked(url: URL, body: string, timeoutMs: number, opts: HttpTransportOptions, tls: TlsCheck): Promise<string | null> {
  try {
    const res = await smallRequest(url, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body, timeoutMs, maxBytes: opts.maxBodyBytes, tls,
    });
    return res.status === 200 ? res.text : null;
  } catch (err) {
    if (isUpshiftError(err, 'E_TLS_PIN') || isUpshiftError(err, 'E_TLS_UNTRUSTED')) opts.onTlsRefused?.(url.origin, err.message);
    return null;
  }
}

function isWire(v: unknown): v is SignedMessage {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.payload === 'string' && typeof o.sig === 'string' && typeof o.cert === 'string';
}

/** The answer's body as text, or null: not a 2xx, over `max` bytes (capped before parsing), or any error. */
function post(url: URL, body: string, timeoutMs: number, max: number): Promise<string | null> {
  return new Promise((resolve) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      lookup: guardedLookup,
      // other https peers are not verified (see the head of this file)
      ...(url.protocol === 'https:' ? { rejectUnauthorized: false } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    }, (res) => {
      const status = res.statusCode ?? 0;
      const declared = Number(res.headers['content-length'] ?? NaN);
      if (status < 200 || status >= 300 || declared > max) {
        res.destroy();
        return resolve(null);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) {
          res.destroy();
          resolve(null);
        } else {
          chunks.push(chunk);
        }
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', () => resolve(null));
      res.on('close', () => resolve(null)); // after 'end' this changes nothing: the first resolve wins
    });
    req.on('error', () => resolve(null));
    req.end(body);
  });
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup, refusing a name any of whose addresses is link-local, unspecified, multicast or metadata. */
function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, options.all ? [] : '');
    const bad = addresses.find((a) => forbiddenAddress(a.address) !== null);
    const first = addresses[0];
    if (bad || !first) {
      const why = bad ? `${hostname} resolves to ${bad.address}, which gossip never calls` : `${hostname} resolves to nothing`;
      return callback(Object.assign(new Error(why), { code: bad ? 'E_PEER_URL' : 'ENOTFOUND' }), options.all ? [] : '');
    }
    if (options.all) return callback(null, addresses);
    callback(null, first.address, first.family);
  });
}
