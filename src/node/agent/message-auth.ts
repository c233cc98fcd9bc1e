// Gossip message signatures (SPEC "Gossip": each node has its own Ed25519 key and a node
// certificate signed by the authority). A message is the canonical JSON of a GossipMessage,
// signed under its own DSSE payload type so a gossip message can never pass as a manifest,
// a certificate or a heartbeat document, and it carries the sender's certificate so any
// node can check it without a directory lookup.
import { createHash } from 'node:crypto';
import { canonicalize, parseStrictJson } from '../../core/canonical-json.js';
import { isUpshiftError, UpshiftError } from '../../core/errors.js';
import { pae } from '../../core/manifest.js';
import type { MessageAuth, SignedMessage } from '../../gossip/ports.js';
import type { GossipMessage } from '../../gossip/types.js';
import { fromBase64, toBase64 } from '../../trust/bytes.js';
import { trustCheckedKey, verifySignature } from '../../trust/ed25519.js';
import { serializeEnvelope, type Envelope } from '../../trust/envelope.js';
import type { Signer } from '../../trust/keyfile.js';
import type { Keyset } from '../../trust/keyset.js';
import { certPublicKey, verifyCert, type NodeCert } from '../../trust/node-cert.js';

export const GOSSIP_PAYLOAD_TYPE = 'application/vnd.upshift.gossip+json';

/** Distinct certificates kept verified; a fleet has far fewer, so overflow means junk and the cache starts over. */
const MAX_CACHED_CERTS = 10_000;

export interface MessageAuthDeps {
  signer: Signer;
  /** This node's certificate, sent with every message. */
  cert: Envelope | string;
  keyset: Keyset;
  fleet: string;
  clock: { now(): number };
  /** True when a node's certificate with this serial has been revoked (or superseded). */
  revoked?: (nodeId: string, serial: number) => boolean;
}

interface CachedCert {
  cert: NodeCert;
  publicKey: Uint8Array;
  expiresAt: number;
}

const encoder = new TextEncoder();

export class Ed25519MessageAuth implements MessageAuth<SignedMessage> {
  private readonly certText: string;
  private readonly certs = new Map<string, CachedCert>();

  constructor(private readonly deps: MessageAuthDeps) {
    this.certText = typeof deps.cert === 'string' ? deps.cert : serializeEnvelope(deps.cert);
  }

  sign(message: GossipMessage): SignedMessage {
    return this.seal(message, GOSSIP_PAYLOAD_TYPE);
  }

  verify(wire: SignedMessage): { from: string; content: unknown; url?: string } {
    return this.open(wire, GOSSIP_PAYLOAD_TYPE);
  }

  /**
   * Any document this node sends under its own key (a gossip message, a heartbeat frame on
   * the fleet channel): the payload type is signed, so one can never pass as the other.
   */
  seal(content: { from: string; [key: string]: unknown }, payloadType: string): SignedMessage {
    const payload = canonicalize(content);
    const sig = this.deps.signer.sign(pae(payloadType, encoder.encode(payload)));
    return { payload, sig: toBase64(sig), cert: this.certText };
  }

  /** What `seal` made, checked as a gossip message is: certificate, signature, canonical JSON, `from`. */
  open(wire: SignedMessage, payloadType: string): { from: string; content: unknown; url?: string } {
    const w = wire as unknown;
    if (typeof w !== 'object' || w === null || Array.isArray(w)) throw new UpshiftError('E_MALFORMED', 'a gossip message is an object { payload, sig, cert }');
    const { payload, sig, cert } = w as Record<string, unknown>;
    if (typeof payload !== 'string' || typeof sig !== 'string' || typeof cert !== 'string' || Object.keys(w).length !== 3) {
      throw new UpshiftError('E_MALFORMED', 'a gossip message is exactly { payload, sig, cert }, all strings');
    }
    const signer = this.certificate(cert);
    const bytes = encoder.encode(payload);
    const signature = fromBase64(sig);
    if (signature === null || !verifySignature(signature, pae(payloadType, bytes), signer.publicKey)) {
      throw new UpshiftError('E_SIG_INVALID', `gossip message signature does not verify with the key of ${signer.cert.node_id}`, { details: { node_id: signer.cert.node_id } });
    }
    let content: unknown;
    try {
      content = parseStrictJson(bytes);
    } catch (err) {
      throw new UpshiftError('E_MALFORMED', `gossip payload is not canonical JSON: ${(err as Error).message}`, { cause: err });
    }
    const from = typeof content === 'object' && content !== null ? (content as { from?: unknown }).from : undefined;
    if (from !== signer.cert.node_id) {
      throw new UpshiftError('E_NOT_CERTIFIED', `message claims to be from ${String(from)} but carries the certificate of ${signer.cert.node_id}`, {
        details: { reason: 'E_WRONG_NODE', node_id: signer.cert.node_id },
      });
    }
    return { from: signer.cert.node_id, content, ...(signer.cert.url === undefined ? {} : { url: signer.cert.url }) };
  }

  /**
   * The certificate's signature is checked once per distinct envelope (by hash); expiry and
   * revocation change with time, so they are checked on every message.
   */
  private certificate(text: string): CachedCert {
    const key = createHash('sha256').update(text).digest('hex');
    const now = this.deps.clock.now();
    const check = { now, fleet: this.deps.fleet, ...(this.deps.revoked ? { revoked: this.deps.revoked } : {}) };
    let hit = this.certs.get(key);
    if (!hit) {
      const cert = verifyCertOrRefuse(text, this.deps.keyset, check);
      hit = { cert, publicKey: trustCheckedKey(certPublicKey(cert)), expiresAt: Date.parse(cert.expires_at) };
      if (this.certs.size >= MAX_CACHED_CERTS) this.certs.clear();
      this.certs.set(key, hit);
      return hit;
    }
    const who = `node ${hit.cert.node_id} (serial ${hit.cert.serial})`;
    if (this.deps.revoked?.(hit.cert.node_id, hit.cert.serial)) {
      throw new UpshiftError('E_REVOKED', `certificate of ${who} has been revoked`, { details: { node_id: hit.cert.node_id, serial: hit.cert.serial } });
    }
    if (!(now < hit.expiresAt)) {
      this.certs.delete(key);
      throw new UpshiftError('E_NOT_CERTIFIED', `certificate of ${who} expired at ${hit.cert.expires_at}`, { details: { reason: 'E_EXPIRED', expires_at: hit.cert.expires_at } });
    }
    return hit;
  }
}

function verifyCertOrRefuse(text: string, keyset: Keyset, check: Parameters<typeof verifyCert>[2]): NodeCert {
  try {
    return verifyCert(text, keyset, check);
  } catch (err) {
    if (isUpshiftError(err, 'E_REVOKED') || isUpshiftError(err, 'E_NOT_CERTIFIED')) throw err;
    throw new UpshiftError('E_NOT_CERTIFIED', `node certificate refused: ${(err as Error).message}`, { cause: err });
  }
}
