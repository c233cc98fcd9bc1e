// Fleet identity records: join tokens (hashed, spent once), issued node certificates,
// revocations, and known peers. Steps that belong together (redeem a token and issue a
// certificate; revoke and sign the next list) are one method each, one transaction, so a
// failure spends nothing.
import { UpshiftError } from '../../core/errors.js';
import type { Audit, CertDraft, IssuedCert, RevocationSigner } from '../../core/store-ports.js';
import type { Db } from './db.js';
import { insertEvent, KvTable } from './records.js';

/** Where the revocation list held for gossip is kept, and the authority's last list seq. */
const HELD_LIST_KEY = 'gossip.revocations';
const LIST_SEQ_KEY = 'authority.revocations.seq';

export type { CertRecord, JoinTokenRecord, PeerRecord, PeerState, RevocationRecord } from '../../core/records.js';
import type { CertRecord, JoinTokenRecord, PeerRecord, PeerState, RevocationRecord } from '../../core/records.js';

const toToken = (r: Record<string, unknown>): JoinTokenRecord => ({
  tokenHash: r.token_hash as string, labels: JSON.parse(r.labels as string) as Record<string, string>, nodeId: r.node_id as string | null,
  createdAt: r.created_at as number, expiresAt: r.expires_at as number, usedAt: r.used_at as number | null, usedBy: r.used_by as string | null,
});

const toCert = (r: Record<string, unknown>): CertRecord => ({
  serial: r.serial as number, nodeId: r.node_id as string, publicKey: r.public_key as string,
  labels: JSON.parse(r.labels as string) as Record<string, string>, cert: r.cert as string, issuedAt: r.issued_at as number,
  expiresAt: r.expires_at as number, tokenHash: r.token_hash as string | null,
  revokedAt: (r.revoked_at as number | null) ?? null, revokeReason: (r.revoke_reason as string | null) ?? null,
});

const toPeer = (r: Record<string, unknown>): PeerRecord => ({
  nodeId: r.node_id as string, url: r.url as string, cert: r.cert as string | null, labels: JSON.parse(r.labels as string) as Record<string, string>,
  state: r.state as PeerState, lastSeen: r.last_seen as number, heartbeat: r.heartbeat as string | null,
});

// The earliest revocation covering each certificate: the one that took it out of service.
const CERTS_WITH_REVOCATION = `SELECT c.*,
  (SELECT r.revoked_at FROM cert_revocations r WHERE r.node_id = c.node_id AND r.serial >= c.serial ORDER BY r.revoked_at, r.serial LIMIT 1) AS revoked_at,
  (SELECT r.reason FROM cert_revocations r WHERE r.node_id = c.node_id AND r.serial >= c.serial ORDER BY r.revoked_at, r.serial LIMIT 1) AS revoke_reason
  FROM node_certs c`;

export class IdentityTable {
  private readonly kv: KvTable;

  constructor(private readonly db: Db) {
    this.kv = new KvTable(db);
  }

  private tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  // ---- join tokens
  /** A new token, with its `identity.token_created` event when `audit` says who made it. */
  addToken(t: { tokenHash: string; labels: Record<string, string>; nodeId: string | null; createdAt: number; expiresAt: number }, audit?: Audit): void {
    this.tx(() => {
      this.db.prepare('INSERT INTO join_tokens (token_hash, labels, node_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)')
        .run(t.tokenHash, JSON.stringify(t.labels), t.nodeId, t.createdAt, t.expiresAt);
      if (audit) insertEvent(this.db, { at: t.createdAt, runId: null, stage: null, kind: 'identity.token_created', actor: audit.actor, data: audit.data });
    });
  }

  token(tokenHash: string): JoinTokenRecord | null {
    const r = this.db.prepare('SELECT * FROM join_tokens WHERE token_hash = ?').get(tokenHash) as Record<string, unknown> | undefined;
    return r ? toToken(r) : null;
  }

  tokens(): JoinTokenRecord[] {
    return (this.db.prepare('SELECT * FROM join_tokens ORDER BY created_at, rowid').all() as Record<string, unknown>[]).map(toToken);
  }

  /**
   * Spend a token for a node, atomically: one conditional UPDATE, so two concurrent joins
   * with the same token cannot both succeed. E_TOKEN when it is unknown, used, expired,
   * or made for another node id.
   */
  redeemToken(tokenHash: string, nodeId: string, now: number): JoinTokenRecord {
    const res = this.db.prepare(`UPDATE join_tokens SET used_at = ?, used_by = ?
      WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? AND (node_id IS NULL OR node_id = ?)`).run(now, nodeId, tokenHash, now, nodeId);
    const t = this.token(tokenHash);
    if (res.changes === 1 && t) return t;
    const why = !t ? 'is not known to this authority'
      : t.usedAt !== null ? `was already used${t.usedBy ? ` by ${t.usedBy}` : ''} at ${new Date(t.usedAt).toISOString()}`
        : t.expiresAt <= now ? `expired at ${new Date(t.expiresAt).toISOString()}`
          : `was made for node ${t.nodeId ?? '?'}, not ${nodeId}`;
    throw new UpshiftError('E_TOKEN', `join token ${why}; make a new one with \`upshift fleet token\``, { details: { node_id: nodeId } });
  }

  // ---- certificates
  /**
   * Spend the token (if any), take the next serial, let `sign` build the certificate (a
   * throw commits nothing), store it, supersede the node's older ones, append the event.
   */
  issue(r: { nodeId: string; tokenHash: string | null; at: number; sign: (d: CertDraft) => IssuedCert }): CertRecord {
    return this.tx(() => {
      const token = r.tokenHash === null ? null : this.redeemToken(r.tokenHash, r.nodeId, r.at);
      const held = this.latestCert(r.nodeId);
      const serial = this.nextSerial();
      const c = r.sign({ serial, held, token });
      this.addCert({ serial, nodeId: r.nodeId, publicKey: c.publicKey, labels: c.labels, cert: c.cert, issuedAt: c.issuedAt, expiresAt: c.expiresAt, tokenHash: r.tokenHash });
      if (held) this.revoke(r.nodeId, serial - 1, `superseded by serial ${serial}`, r.at);
      insertEvent(this.db, { at: r.at, runId: null, stage: null, kind: 'identity.cert_issued', actor: c.event.actor, data: c.event.data });
      return this.latestCert(r.nodeId) as CertRecord;
    });
  }

  nextSerial(): number {
    return ((this.db.prepare('SELECT MAX(serial) FROM node_certs').pluck().get() as number | null) ?? 0) + 1;
  }

  addCert(c: Omit<CertRecord, 'revokedAt' | 'revokeReason'>): void {
    this.db.prepare('INSERT INTO node_certs (serial, node_id, public_key, labels, cert, issued_at, expires_at, token_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(c.serial, c.nodeId, c.publicKey, JSON.stringify(c.labels), c.cert, c.issuedAt, c.expiresAt, c.tokenHash);
  }

  certs(nodeId?: string): CertRecord[] {
    const rows = nodeId
      ? this.db.prepare(`${CERTS_WITH_REVOCATION} WHERE c.node_id = ? ORDER BY c.serial`).all(nodeId)
      : this.db.prepare(`${CERTS_WITH_REVOCATION} ORDER BY c.serial`).all();
    return (rows as Record<string, unknown>[]).map(toCert);
  }

  latestCert(nodeId: string): CertRecord | null {
    const r = this.db.prepare(`${CERTS_WITH_REVOCATION} WHERE c.node_id = ? ORDER BY c.serial DESC LIMIT 1`).get(nodeId) as Record<string, unknown> | undefined;
    return r ? toCert(r) : null;
  }

  // ---- revocations
  /** Revoke every certificate of a node up to and including `serial`. Idempotent. */
  revoke(nodeId: string, serial: number, reason: string, at: number): void {
    this.db.prepare('INSERT INTO cert_revocations (node_id, serial, revoked_at, reason) VALUES (?, ?, ?, ?) ON CONFLICT(node_id, serial) DO NOTHING')
      .run(nodeId, serial, at, reason);
  }

  /** Revoke a node's newest certificate and sign the next list, with the event; null when it never had one. */
  revokeNode(r: { nodeId: string; reason: string; at: number; actor: string; sign: RevocationSigner }):
    { serial: number; already: boolean; revokedAt: number; reason: string; list: number | null } | null {
    return this.tx(() => {
      const latest = this.latestCert(r.nodeId);
      if (!latest) return null;
      if (latest.revokedAt !== null) {
        return { serial: latest.serial, already: true, revokedAt: latest.revokedAt, reason: latest.revokeReason ?? '', list: null };
      }
      this.revoke(r.nodeId, latest.serial, r.reason, r.at);
      const list = this.publishRevocationList(r.sign);
      insertEvent(this.db, {
        at: r.at, runId: null, stage: null, kind: 'identity.cert_revoked', actor: r.actor,
        data: { node_id: r.nodeId, serial: latest.serial, reason: r.reason, revocation_list: list.seq },
      });
      return { serial: latest.serial, already: false, revokedAt: r.at, reason: r.reason, list: list.seq };
    });
  }

  /** The next revocation list of every revocation recorded, held for gossip. */
  publishRevocationList(sign: RevocationSigner): { seq: number; revoked: number } {
    return this.tx(() => {
      const seq = Number(this.kv.get(LIST_SEQ_KEY) ?? '0') + 1;
      const revoked = this.revocations();
      const envelope = sign(seq, revoked);
      this.kv.set(LIST_SEQ_KEY, String(seq));
      this.kv.set(HELD_LIST_KEY, envelope);
      return { seq, revoked: revoked.length };
    });
  }

  revocationList(): string | null {
    return this.kv.get(HELD_LIST_KEY);
  }

  holdRevocationList(envelope: string, revoked: RevocationRecord[]): void {
    this.tx(() => {
      this.kv.set(HELD_LIST_KEY, envelope);
      for (const r of revoked) this.revoke(r.nodeId, r.serial, r.reason, r.revokedAt);
    });
  }

  isRevoked(nodeId: string, serial: number): boolean {
    return this.db.prepare('SELECT 1 FROM cert_revocations WHERE node_id = ? AND serial >= ? LIMIT 1').get(nodeId, serial) !== undefined;
  }

  revocations(): RevocationRecord[] {
    const rows = this.db.prepare('SELECT * FROM cert_revocations ORDER BY revoked_at, node_id, serial').all() as Record<string, unknown>[];
    return rows.map((r) => ({ nodeId: r.node_id as string, serial: r.serial as number, revokedAt: r.revoked_at as number, reason: r.reason as string }));
  }

  // ---- peers
  upsertPeer(p: PeerRecord): void {
    this.db.prepare(`INSERT INTO peers (node_id, url, cert, labels, state, last_seen, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(node_id) DO UPDATE SET url = excluded.url, cert = excluded.cert, labels = excluded.labels, state = excluded.state,
        last_seen = excluded.last_seen, heartbeat = excluded.heartbeat`)
      .run(p.nodeId, p.url, p.cert, JSON.stringify(p.labels), p.state, p.lastSeen, p.heartbeat);
  }

  upsertPeers(peers: PeerRecord[]): void {
    this.tx(() => {
      for (const p of peers) this.upsertPeer(p);
    });
  }

  setPeerState(nodeId: string, state: PeerState): void {
    this.db.prepare('UPDATE peers SET state = ? WHERE node_id = ?').run(state, nodeId);
  }

  peer(nodeId: string): PeerRecord | null {
    const r = this.db.prepare('SELECT * FROM peers WHERE node_id = ?').get(nodeId) as Record<string, unknown> | undefined;
    return r ? toPeer(r) : null;
  }

  peers(): PeerRecord[] {
    return (this.db.prepare('SELECT * FROM peers ORDER BY node_id').all() as Record<string, unknown>[]).map(toPeer);
  }
}
