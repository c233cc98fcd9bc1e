// Fleet identity over PostgreSQL (migration 3): join tokens (hashed, spent once), issued node
// certificates, revocations and known peers, as adapters/sqlite/identity-tables.ts. Steps
// that belong together (redeem and issue; revoke and sign the next list) are one transaction.
import { UpshiftError } from '../../core/errors.js';
import type { Audit, CertDraft, IdentityStore, IssuedCert, RevocationSigner } from '../../core/store-ports.js';
import type { CertRecord, JoinTokenRecord, PeerRecord, PeerState, RevocationRecord } from '../../core/records.js';
import type { PgSession, Queryable } from './session.js';
import { insertEvent, kvGet, kvSet, lockXact, num, numOrNull } from './seq-line.js';

/** Where the revocation list held for gossip is kept, and the authority's last list seq (as SQLite's). */
const HELD_LIST_KEY = 'gossip.revocations';
const LIST_SEQ_KEY = 'authority.revocations.seq';

type Row = Record<string, unknown>;
const labelsOf = (v: unknown): Record<string, string> => JSON.parse(v as string) as Record<string, string>;

const toToken = (r: Row): JoinTokenRecord => ({
  tokenHash: r.token_hash as string, labels: labelsOf(r.labels), nodeId: r.node_id as string | null,
  createdAt: num(r.created_at), expiresAt: num(r.expires_at), usedAt: numOrNull(r.used_at), usedBy: r.used_by as string | null,
});

const toCert = (r: Row): CertRecord => ({
  serial: num(r.serial), nodeId: r.node_id as string, publicKey: r.public_key as string, labels: labelsOf(r.labels), cert: r.cert as string,
  issuedAt: num(r.issued_at), expiresAt: num(r.expires_at), tokenHash: r.token_hash as string | null,
  revokedAt: numOrNull(r.revoked_at), revokeReason: (r.revoke_reason as string | null) ?? null,
});

const toPeer = (r: Row): PeerRecord => ({
  nodeId: r.node_id as string, url: r.url as string, cert: r.cert as string | null, labels: labelsOf(r.labels),
  state: r.state as PeerState, lastSeen: num(r.last_seen), heartbeat: r.heartbeat as string | null,
});

// The earliest revocation covering each certificate: the one that took it out of service.
const CERTS_WITH_REVOCATION = `SELECT c.*, rv.revoked_at, rv.reason AS revoke_reason FROM node_certs c
  LEFT JOIN LATERAL (SELECT r.revoked_at, r.reason FROM cert_revocations r WHERE r.node_id = c.node_id AND r.serial >= c.serial
    ORDER BY r.revoked_at, r.serial LIMIT 1) rv ON true`;

async function tokenIn(q: Queryable, tokenHash: string): Promise<JoinTokenRecord | null> {
  const r = (await q.query<Row>('SELECT * FROM join_tokens WHERE token_hash = $1', [tokenHash])).rows[0];
  return r ? toToken(r) : null;
}

async function latestCertIn(q: Queryable, nodeId: string): Promise<CertRecord | null> {
  const r = (await q.query<Row>(`${CERTS_WITH_REVOCATION} WHERE c.node_id = $1 ORDER BY c.serial DESC LIMIT 1`, [nodeId])).rows[0];
  return r ? toCert(r) : null;
}

async function revokeIn(q: Queryable, nodeId: string, serial: number, reason: string, at: number): Promise<void> {
  await q.query(`INSERT INTO cert_revocations (node_id, serial, revoked_at, reason) VALUES ($1, $2, $3, $4)
    ON CONFLICT (node_id, serial) DO NOTHING`, [nodeId, serial, at, reason]);
}

async function revocationsIn(q: Queryable): Promise<RevocationRecord[]> {
  const { rows } = await q.query<Row>('SELECT * FROM cert_revocations ORDER BY revoked_at, node_id COLLATE "C", serial');
  return rows.map((r) => ({ nodeId: r.node_id as string, serial: num(r.serial), revokedAt: num(r.revoked_at), reason: r.reason as string }));
}

async function addCertIn(q: Queryable, c: Omit<CertRecord, 'revokedAt' | 'revokeReason'>): Promise<void> {
  await q.query(`INSERT INTO node_certs (serial, node_id, public_key, labels, cert, issued_at, expires_at, token_hash)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
  [c.serial, c.nodeId, c.publicKey, JSON.stringify(c.labels), c.cert, c.issuedAt, c.expiresAt, c.tokenHash]);
}

/**
 * Spend a token for a node: one conditional UPDATE (a concurrent one waits on the row and
 * then finds it spent). E_TOKEN when it is unknown, used, expired, or made for another node.
 */
async function redeemIn(q: Queryable, tokenHash: string, nodeId: string, now: number): Promise<JoinTokenRecord> {
  const res = await q.query(`UPDATE join_tokens SET used_at = $1, used_by = $2
    WHERE token_hash = $3 AND used_at IS NULL AND expires_at > $1 AND (node_id IS NULL OR node_id = $2)`, [now, nodeId, tokenHash]);
  const t = await tokenIn(q, tokenHash);
  if (res.rowCount === 1 && t) return t;
  const why = !t ? 'is not known to this authority'
    : t.usedAt !== null ? `was already used${t.usedBy ? ` by ${t.usedBy}` : ''} at ${new Date(t.usedAt).toISOString()}`
      : t.expiresAt <= now ? `expired at ${new Date(t.expiresAt).toISOString()}`
        : `was made for node ${t.nodeId ?? '?'}, not ${nodeId}`;
  throw new UpshiftError('E_TOKEN', `join token ${why}; make a new one with \`upshift fleet token\``, { details: { node_id: nodeId } });
}

/** The next list of every revocation recorded, signed and held for gossip; the list seq is locked. */
async function publishIn(q: Queryable, sign: RevocationSigner): Promise<{ seq: number; revoked: number }> {
  await lockXact(q, LIST_SEQ_KEY);
  const seq = Number((await kvGet(q, LIST_SEQ_KEY)) ?? '0') + 1;
  const revoked = await revocationsIn(q);
  const envelope = sign(seq, revoked);
  await kvSet(q, LIST_SEQ_KEY, String(seq));
  await kvSet(q, HELD_LIST_KEY, envelope);
  return { seq, revoked: revoked.length };
}

export class PgIdentity implements IdentityStore {
  constructor(private readonly session: PgSession, readonly now: () => number) {}

  async addToken(t: Omit<JoinTokenRecord, 'usedAt' | 'usedBy'>, audit?: Audit): Promise<void> {
    await this.session.write(async (q) => {
      await q.query('INSERT INTO join_tokens (token_hash, labels, node_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)',
        [t.tokenHash, JSON.stringify(t.labels), t.nodeId, t.createdAt, t.expiresAt]);
      if (audit) await insertEvent(q, { at: t.createdAt, runId: null, stage: null, kind: 'identity.token_created', actor: audit.actor, data: audit.data });
    });
  }

  async token(tokenHash: string): Promise<JoinTokenRecord | null> {
    return this.session.read((q) => tokenIn(q, tokenHash));
  }

  /** In creation order (SQLite's ties fall to rowid, here to the token hash). */
  async tokens(): Promise<JoinTokenRecord[]> {
    return this.session.read(async (q) => (await q.query<Row>('SELECT * FROM join_tokens ORDER BY created_at, token_hash COLLATE "C"')).rows.map(toToken));
  }

  async issue(r: { nodeId: string; tokenHash: string | null; at: number; sign: (d: CertDraft) => IssuedCert }): Promise<CertRecord> {
    return this.session.write(async (q) => {
      const token = r.tokenHash === null ? null : await redeemIn(q, r.tokenHash, r.nodeId, r.at);
      await lockXact(q, 'node_certs.serial');
      const held = await latestCertIn(q, r.nodeId);
      const serial = num((await q.query<{ s: string | null }>('SELECT MAX(serial) AS s FROM node_certs')).rows[0]?.s ?? 0) + 1;
      const c = r.sign({ serial, held, token });
      await addCertIn(q, {
        serial, nodeId: r.nodeId, publicKey: c.publicKey, labels: c.labels, cert: c.cert, issuedAt: c.issuedAt, expiresAt: c.expiresAt, tokenHash: r.tokenHash,
      });
      if (held) await revokeIn(q, r.nodeId, serial - 1, `superseded by serial ${serial}`, r.at);
      await insertEvent(q, { at: r.at, runId: null, stage: null, kind: 'identity.cert_issued', actor: c.event.actor, data: c.event.data });
      return (await latestCertIn(q, r.nodeId)) as CertRecord;
    });
  }

  async addCert(c: Omit<CertRecord, 'revokedAt' | 'revokeReason'>): Promise<void> {
    await this.session.write((q) => addCertIn(q, c));
  }

  async certs(nodeId?: string): Promise<CertRecord[]> {
    return this.session.read(async (q) => {
      const { rows } = nodeId
        ? await q.query<Row>(`${CERTS_WITH_REVOCATION} WHERE c.node_id = $1 ORDER BY c.serial`, [nodeId])
        : await q.query<Row>(`${CERTS_WITH_REVOCATION} ORDER BY c.serial`);
      return rows.map(toCert);
    });
  }

  async latestCert(nodeId: string): Promise<CertRecord | null> {
    return this.session.read((q) => latestCertIn(q, nodeId));
  }

  async revoke(nodeId: string, serial: number, reason: string, at: number): Promise<void> {
    await this.session.write((q) => revokeIn(q, nodeId, serial, reason, at));
  }

  async revokeNode(r: { nodeId: string; reason: string; at: number; actor: string; sign: RevocationSigner }):
    Promise<{ serial: number; already: boolean; revokedAt: number; reason: string; list: number | null } | null> {
    return this.session.write(async (q) => {
      const latest = await latestCertIn(q, r.nodeId);
      if (!latest) return null;
      if (latest.revokedAt !== null) {
        return { serial: latest.serial, already: true, revokedAt: latest.revokedAt, reason: latest.revokeReason ?? '', list: null };
      }
      await revokeIn(q, r.nodeId, latest.serial, r.reason, r.at);
      const list = await publishIn(q, r.sign);
      await insertEvent(q, {
        at: r.at, runId: null, stage: null, kind: 'identity.cert_revoked', actor: r.actor,
        data: { node_id: r.nodeId, serial: latest.serial, reason: r.reason, revocation_list: list.seq },
      });
      return { serial: latest.serial, already: false, revokedAt: r.at, reason: r.reason, list: list.seq };
    });
  }

  async publishRevocationList(sign: RevocationSigner): Promise<{ seq: number; revoked: number }> {
    return this.session.write((q) => publishIn(q, sign));
  }

  async revocationList(): Promise<string | null> {
    return this.session.read((q) => kvGet(q, HELD_LIST_KEY));
  }

  async holdRevocationList(envelope: string, revoked: RevocationRecord[]): Promise<void> {
    await this.session.write(async (q) => {
      await kvSet(q, HELD_LIST_KEY, envelope);
      for (const r of revoked) await revokeIn(q, r.nodeId, r.serial, r.reason, r.revokedAt);
    });
  }

  async isRevoked(nodeId: string, serial: number): Promise<boolean> {
    return this.session.read(async (q) =>
      (await q.query('SELECT 1 FROM cert_revocations WHERE node_id = $1 AND serial >= $2 LIMIT 1', [nodeId, serial])).rows.length > 0);
  }

  async revocations(): Promise<RevocationRecord[]> {
    return this.session.read(revocationsIn);
  }

  async upsertPeers(peers: PeerRecord[]): Promise<void> {
    await this.session.write(async (q) => {
      for (const p of peers) {
        await q.query(`INSERT INTO peers (node_id, url, cert, labels, state, last_seen, heartbeat) VALUES ($1, $2, $3, $4, $5, $6, $7)
          ON CONFLICT (node_id) DO UPDATE SET url = excluded.url, cert = excluded.cert, labels = excluded.labels, state = excluded.state,
            last_seen = excluded.last_seen, heartbeat = excluded.heartbeat`,
        [p.nodeId, p.url, p.cert, JSON.stringify(p.labels), p.state, p.lastSeen, p.heartbeat]);
      }
    });
  }

  async setPeerState(nodeId: string, state: PeerState): Promise<void> {
    await this.session.write((q) => q.query('UPDATE peers SET state = $1 WHERE node_id = $2', [state, nodeId]));
  }

  async peer(nodeId: string): Promise<PeerRecord | null> {
    return this.session.read(async (q) => {
      const r = (await q.query<Row>('SELECT * FROM peers WHERE node_id = $1', [nodeId])).rows[0];
      return r ? toPeer(r) : null;
    });
  }

  async peers(): Promise<PeerRecord[]> {
    return this.session.read(async (q) => (await q.query<Row>('SELECT * FROM peers ORDER BY node_id COLLATE "C"')).rows.map(toPeer));
  }
}
