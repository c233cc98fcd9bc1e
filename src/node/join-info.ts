// What a fresh node learns from the authority before it spends its join token (GET
// /v1/join): the fleet, the trust section and the tracks. None of it is secret; all of it
// is checked: the trust section against the fingerprint the operator was shown by `fleet
// token` (E_TRUST_MISMATCH), and later the certificate against that same trust.
import { z } from 'zod';
import type { Config } from '../core/config.js';
import { UpshiftError } from '../core/errors.js';
import { smallRequest } from '../adapters/http-client.js';
import { loadKeyset, type Keyset } from '../trust/keyset.js';
import { trustDoc, trustFingerprint, type TrustDoc } from '../trust/keyset-fingerprint.js';
import type { AuthorityTarget } from './authority-pin.js';

export interface JoinInfo {
  ok: true;
  fleet: string;
  trust: TrustDoc;
  /** Every track the authority releases. */
  tracks: string[];
  /** What a new node follows unless `join --tracks` says otherwise: the authority's own node.tracks. */
  default_tracks: string[];
}

/** On the authority: the answer to GET /v1/join. */
export function joinInfo(config: Config, keyset: Keyset): JoinInfo {
  const tracks = Object.keys(config.authority?.tracks ?? {});
  return { ok: true, fleet: config.fleet, trust: trustDoc(keyset), tracks, default_tracks: config.node.tracks };
}

const ms = z.int().min(0);
const infoSchema = z.object({
  ok: z.literal(true),
  fleet: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/),
  trust: z.object({
    keys: z.array(z.object({ keyid: z.string(), public: z.string() })).min(1).max(64),
    threshold: z.int().min(1),
    max_manifest_ttl: ms,
    clock_skew: ms,
  }),
  tracks: z.array(z.string()).max(64),
  default_tracks: z.array(z.string()).min(1).max(64),
});

const MAX_INFO_BYTES = 64 * 1024;

/**
 * Fetch the authority's join info: E_UNREACHABLE / E_TIMEOUT / E_TLS_* from the transport,
 * E_MALFORMED for an answer that is not join info. Nothing is written.
 */
export async function fetchJoinInfo(target: AuthorityTarget, timeoutMs: number): Promise<JoinInfo> {
  const url = new URL(`${target.url.href.replace(/\/+$/, '')}/v1/join`);
  const res = await smallRequest(url, { method: 'GET', headers: { accept: 'application/json' }, timeoutMs, maxBytes: MAX_INFO_BYTES, tls: target.tls ?? 'ca' });
  let parsed: ReturnType<typeof infoSchema.safeParse> | null = null;
  try {
    parsed = infoSchema.safeParse(JSON.parse(res.text ?? ''));
  } catch {
    parsed = null;
  }
  if (res.status !== 200 || !parsed?.success) {
    const why = res.status === 404 ? ' (is this the authority? only its daemon answers /v1/join)' : '';
    throw new UpshiftError('E_MALFORMED', `${url.origin} answered GET /v1/join with HTTP ${res.status}, not the authority's join info${why}`);
  }
  return parsed.data as JoinInfo;
}

/** The keyset of `info`, if it hashes to `fingerprint` (E_TRUST_MISMATCH otherwise, E_KEY_* for a bad key). */
export function checkTrust(info: JoinInfo, fingerprint: string, origin: string): Keyset {
  const keyset = loadKeyset(info.trust);
  const got = trustFingerprint(keyset);
  if (got !== fingerprint) {
    throw new UpshiftError('E_TRUST_MISMATCH', `the authority at ${origin} trusts keyset ${got}, not the ${fingerprint} given with --trust: `
      + 'copy the join command again from `upshift fleet token` on the authority (a key rotation changes the fingerprint)', {
      details: { expected: fingerprint, got },
    });
  }
  return keyset;
}
