// The node side of joining: POST a join request (the token, this node's id, labels, key and
// address, signed with the key) to the authority and verify the certificate it answers with
// against this node's own trust keyset. Nothing is written here; the CLI keeps the result.
import type { Config } from '../core/config.js';
import { CODES, UpshiftError, type ErrorCode } from '../core/errors.js';
import { smallRequest } from '../adapters/http-client.js';
import type { AuthorityTarget } from './authority-pin.js';
import { advertisedUrl, checkCertIsMine } from './identity.js';
import type { Envelope } from '../trust/envelope.js';
import { buildJoinRequest, parseJoinRequest, tokenSchema } from '../trust/join-token.js';
import type { Signer } from '../trust/keyfile.js';
import { verifyCert, type NodeCert } from '../trust/node-cert.js';
import { keysetOf } from '../trust/keyset.js';

export const JOIN_TIMEOUT_MS = 10_000;
// A certificate is about a kilobyte; anything much larger is not an answer to a join.
const MAX_RESPONSE_BYTES = 256 * 1024;

/**
 * POST the join request to `target` (see authorityTarget: decided before any key exists)
 * and verify the answer; nothing is written here.
 */
export async function requestCert(config: Config, signer: Signer, opts: { target: AuthorityTarget; token: string; now: () => number; timeoutMs?: number }): Promise<{ envelope: Envelope; cert: NodeCert }> {
  const url = new URL(`${opts.target.url.href.replace(/\/+$/, '')}/v1/join`);
  if (!tokenSchema.safeParse(opts.token).success) throw new UpshiftError('E_USAGE', '--token is not a join token: expected the 43 characters printed by `upshift fleet token`');
  // The same strict check the authority runs, so a bad label in upshift.yaml is reported here, by name.
  const request = parseJoinRequest(buildJoinRequest(opts.token, config.node.id, config.node.labels, signer, advertisedUrl(config)));
  // the TLS peer is checked on the handshake, before the token is written (E_TLS_PIN, E_TLS_UNTRUSTED)
  const res = await smallRequest(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(request),
    timeoutMs: opts.timeoutMs ?? JOIN_TIMEOUT_MS,
    maxBytes: MAX_RESPONSE_BYTES,
    tls: opts.target.tls ?? 'ca',
  });
  const text = res.text;
  if (text === null) throw new UpshiftError('E_BODY_TOO_LARGE', `the authority's answer is over ${MAX_RESPONSE_BYTES} bytes`);
  let body: { ok?: unknown; cert?: unknown; error?: { code?: unknown; message?: unknown } };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new UpshiftError('E_MALFORMED', `the authority answered HTTP ${res.status} with something that is not JSON`);
  }
  if (res.status !== 200 || body?.ok !== true) {
    const code = typeof body?.error?.code === 'string' && body.error.code in CODES ? (body.error.code as ErrorCode) : 'E_NOT_CERTIFIED';
    const message = typeof body?.error?.message === 'string' ? body.error.message : `HTTP ${res.status}`;
    throw new UpshiftError(code, `the authority refused the join: ${message}`, { details: { status: res.status } });
  }
  const cert = verifyCert(body.cert as Envelope, keysetOf(config), { now: opts.now(), fleet: config.fleet });
  checkCertIsMine(cert, config.node.id, signer);
  if (cert.url !== request.url) {
    const asked = request.url ?? '(none)';
    throw new UpshiftError('E_NOT_CERTIFIED', `the certificate names address ${cert.url ?? '(none)'}, not the ${asked} this node asked for`, {
      details: { reason: 'E_WRONG_URL' },
    });
  }
  return { envelope: body.cert as Envelope, cert };
}
