// A small HTTP(S) client for join and gossip to https peers. The TLS peer is checked by us
// on the handshake, before a single byte of the request (a join token, say) is written:
// against a pinned certificate fingerprint, the system CAs, or (gossip, which is signed
// end to end) not at all. Node's own verification runs on the same handshake; we only read
// its verdict, so a self-signed certificate can be pinned.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { UpshiftError } from '../core/errors.js';

/** How an https peer is checked: its certificate's SHA-256 pin, the system CAs, or not at all. */
export type TlsCheck = { pin: string } | 'ca' | 'none';

export interface SmallRequest {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Connect to last byte. */
  timeoutMs: number;
  /** A longer answer is dropped: `text` is null. */
  maxBytes: number;
  /** For https URLs; http URLs ignore it. */
  tls: TlsCheck;
}

export interface SmallResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string | null;
}

/** `sha256:` + 64 lowercase hex, from `sha256:HEX`, `HEX` or openssl's `AB:CD:...`; null when it is none of those. */
export function normalizeFingerprint(text: string): string | null {
  const hex = text.trim().replace(/^sha256:/i, '').replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? `sha256:${hex}` : null;
}

const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * Connect and check the peer; resolves with a socket nothing was written to yet. `held`
 * gets the socket at once, so the caller destroys it on any outcome (a deadline, say).
 */
function openSocket(url: URL, check: TlsCheck, held: (s: Socket) => void): Promise<Socket> {
  const host = hostOf(url);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  return new Promise((resolve, reject) => {
    if (url.protocol === 'http:') {
      const socket = netConnect({ host, port });
      held(socket);
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
      return;
    }
    // rejectUnauthorized: false only lets us decide below; nothing is sent before we do
    const sni = isIP(host) ? {} : { servername: host };
    const socket: TLSSocket = tlsConnect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], ...sni });
    held(socket);
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      let refusal: UpshiftError | null = null;
      if (typeof check === 'object') {
        const got = normalizeFingerprint(socket.getPeerCertificate().fingerprint256 ?? '');
        if (got !== check.pin) {
          const message = `${url.host} presented a TLS certificate with fingerprint ${got ?? 'none'}, not the pinned ${check.pin}`;
          refusal = new UpshiftError('E_TLS_PIN', message, { details: { expected: check.pin, got } });
        }
      } else if (check === 'ca' && !socket.authorized) {
        const reason = String(socket.authorizationError);
        refusal = new UpshiftError('E_TLS_UNTRUSTED', `${url.host}'s TLS certificate is not trusted (${reason}); `
          + 'pin it with --authority-fingerprint from `upshift fleet token`', { details: { reason } });
      }
      if (refusal) {
        socket.destroy();
        reject(refusal);
      } else resolve(socket);
    });
  });
}

/** One request on its own connection; network failures are E_UNREACHABLE, the deadline E_TIMEOUT. */
export async function smallRequest(url: URL, req: SmallRequest): Promise<SmallResponse> {
  let socket: Socket | null = null;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    const late = () => reject(new UpshiftError('E_TIMEOUT', `no answer from ${url.origin} within ${req.timeoutMs / 1000}s`));
    timer = setTimeout(late, req.timeoutMs);
  });
  const exchange = async (): Promise<SmallResponse> => {
    const open = await openSocket(url, req.tls, (s) => void (socket = s));
    return new Promise<SmallResponse>((resolve, reject) => {
      const body = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8');
      const headers = { ...(req.headers ?? {}), ...(body ? { 'content-length': String(body.length) } : {}) };
      const target = { host: hostOf(url), port: url.port, method: req.method, path: `${url.pathname}${url.search}`, headers };
      const out = httpRequest({ ...target, createConnection: () => open }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let over = false;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > req.maxBytes) {
            over = true;
            res.destroy();
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text: null });
          } else chunks.push(c);
        });
        const text = () => Buffer.concat(chunks).toString('utf8');
        res.on('end', () => over || resolve({ status: res.statusCode ?? 0, headers: res.headers, text: text() }));
        res.on('error', (err) => over || reject(err));
      });
      out.on('error', reject);
      out.end(body);
    });
  };
  try {
    return await Promise.race([exchange(), deadline]);
  } catch (err) {
    if (err instanceof UpshiftError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UpshiftError('E_UNREACHABLE', `cannot reach ${url.origin}: ${code}`, { cause: err });
  } finally {
    clearTimeout(timer);
    (socket as Socket | null)?.destroy();
  }
}
