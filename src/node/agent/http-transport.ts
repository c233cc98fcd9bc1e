// Gossip over HTTP: POST the signed message to the peer's /v1/gossip and read its signed
// answer. Anything that goes wrong (refusal, timeout, oversized or garbled answer) is a lost
// message to the protocol, which is built to tolerate loss.
import type { PeerAddress, SignedMessage, Transport } from '../../gossip/ports.js';

export interface HttpTransportOptions {
  /** Per request, connect to last byte (default 2 s). */
  timeoutMs?: number;
  /** Answers larger than this are dropped unread (gossip.max_body_bytes). */
  maxBodyBytes: number;
}

export function gossipUrl(base: string): string {
  return `${base.replace(/\/+$/, '')}/v1/gossip`;
}

export function httpTransport(opts: HttpTransportOptions): Transport<SignedMessage> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  return {
    async send(to: PeerAddress, wire: SignedMessage): Promise<SignedMessage | null> {
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
