// Gossip over HTTP: POST the signed message to the peer's /v1/gossip and read its signed
// answer. Anything that goes wrong (refusal, timeout, oversized or garbled answer) is a lost
// message to the protocol, which is built to tolerate loss.
// An https peer is checked as `tlsChecks` says for its origin (the authority, pinned by
// `join`); any other https peer is not verified: every message is signed by its sender's
// node key end to end, so TLS between peers only hides gossip from passive listeners.
import { isUpshiftError } from '../../core/errors.js';
import type { PeerAddress, SignedMessage, Transport } from '../../gossip/ports.js';
import { smallRequest, type TlsCheck } from '../../adapters/http-client.js';

export interface HttpTransportOptions {
  /** Per request, connect to last byte (default 2 s). */
  timeoutMs?: number;
  /** Answers larger than this are dropped unread (gossip.max_body_bytes). */
  maxBodyBytes: number;
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
  return {
    async send(to: PeerAddress, wire: SignedMessage): Promise<SignedMessage | null> {
      if (to.url.startsWith('https:')) return sendTls(to.url, wire, opts, timeoutMs);
      try {
        const res = await fetch(gossipUrl(to.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(wire),
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (!res.ok) {
          await res.body?.cancel().catch(() => undefined);
          return null;
        }
        const text = await readCapped(res, opts.maxBodyBytes);
        if (text === null) return null;
        const parsed = JSON.parse(text) as unknown;
        return isWire(parsed) ? parsed : null;
      } catch {
        return null;
      }
    },
  };
}

async function sendTls(base: string, wire: SignedMessage, opts: HttpTransportOptions, timeoutMs: number): Promise<SignedMessage | null> {
  try {
    const url = new URL(gossipUrl(base));
    const res = await smallRequest(url, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(wire),
      timeoutMs, maxBytes: opts.maxBodyBytes, tls: opts.tlsChecks?.get(url.origin) ?? 'none',
    });
    if (res.status !== 200 || res.text === null) return null;
    const parsed = JSON.parse(res.text) as unknown;
    return isWire(parsed) ? parsed : null;
  } catch (err) {
    if (isUpshiftError(err, 'E_TLS_PIN') || isUpshiftError(err, 'E_TLS_UNTRUSTED')) opts.onTlsRefused?.(base, err.message);
    return null;
  }
}

function isWire(v: unknown): v is SignedMessage {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.payload === 'string' && typeof o.sig === 'string' && typeof o.cert === 'string';
}

/** The body as text, or null (and the stream cancelled) once it passes `max` bytes: capped before parsing. */
async function readCapped(res: Response, max: number): Promise<string | null> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    return null;
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
