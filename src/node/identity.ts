// This node's identity: its own Ed25519 key (node.key) and the certificate the authority
// issued for it (node.cert). The node side loads and checks them and joins a fleet; the
// authority side (handleJoin, certifySelf) spends join tokens and issues certificates.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Config } from '../core/config.js';
import { isUpshiftError, toUpshiftError, UpshiftError } from '../core/errors.js';
import { PeerUrlPolicy } from '../core/peer-url.js';
import type { CertDraft, IssuedCert, StateStore } from '../core/ports.js';
import { RevocationView } from './agent/revocation-view.js';
import { bytesEqual, toHex } from '../trust/bytes.js';
import { serializeEnvelope, type Envelope } from '../trust/envelope.js';
import { hashToken, parseJoinRequest, verifyJoinProof } from '../trust/join-token.js';
import { generateKeyFile, loadKeyFile, signerFromSeed, type Signer } from '../trust/keyfile.js';
import { SEED_LENGTH } from '../trust/ed25519.js';
import { keysetOf, type Keyset } from '../trust/keyset.js';
import { certPublicKey, issueCert, verifyCert, type NodeCert } from '../trust/node-cert.js';

export const DEFAULT_CERT_TTL_MS = 365 * 24 * 60 * 60_000;

export interface NodeIdentity {
  nodeId: string;
  fleet: string;
  signer: Signer;
  /** The verified certificate, or null when there is none or it does not hold (see `problem`). */
  cert: NodeCert | null;
  envelope: Envelope | null;
  problem: { code: string; message: string } | null;
}


/**
 * Where peers should call this node: gossip.advertise, else http://<gossip.listen> unless that
 * listens on every interface (0.0.0.0, ::), which is no address anyone can call.
 */
export function advertisedUrl(config: Config): string | undefined {
  if (config.gossip.advertise) return config.gossip.advertise;
  const host = config.gossip.listen.slice(0, config.gossip.listen.lastIndexOf(':'));
  return host === '0.0.0.0' || host === '::' || host === '[::]' ? undefined : `http://${config.gossip.listen}`;
}

/** A revocation predicate for verifyCert over this node's revocation records as they are now. */
export async function revocationCheck(store: StateStore): Promise<(nodeId: string, serial: number) => boolean> {
  return (await new RevocationView(store).refresh()).revoked;
}

/**
 * The node key: loaded, or a new one held in memory until `save()` writes it (mode 0600,
 * in a 0700 directory), so a join that is refused leaves no key behind.
 */
export async function loadOrNewNodeKey(path: string): Promise<{ signer: Signer; created: boolean; save(): Promise<void> }> {
  try {
    return { signer: await loadKeyFile(path), created: false, save: async () => {} };
  } catch (err) {
    if (!isUpshiftError(err, 'E_KEY_MISSING')) throw err;
  }
  const seed = new Uint8Array(randomBytes(SEED_LENGTH));
  return {
    signer: signerFromSeed(seed),
    created: true,
    save: async () => {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await generateKeyFile(path, seed);
    },
  };
}

/** The node key, created the first time a node joins. */
export async function loadOrCreateNodeKey(path: string): Promise<{ signer: Signer; created: boolean }> {
  const key = await loadOrNewNodeKey(path);
  await key.save();
  return { signer: key.signer, created: key.created };
}

/** Check a verified certificate names this node and this key (E_NOT_CERTIFIED otherwise). */
export function checkCertIsMine(cert: NodeCert, nodeId: string, signer: Signer): void {
  if (cert.node_id !== nodeId) {
    throw new UpshiftError('E_NOT_CERTIFIED', `the certificate is for node ${cert.node_id}, but this node is ${nodeId}`, { details: { reason: 'E_WRONG_NODE' } });
  }
  if (!bytesEqual(certPublicKey(cert), signer.publicKey)) {
    throw new UpshiftError('E_NOT_CERTIFIED', `the certificate of ${cert.node_id} names key ${cert.public_key}, not this node's key ${toHex(signer.publicKey)}`, {
      details: { reason: 'E_WRONG_KEY' },
    });
  }
}

/**
 * Load this node's key (E_KEY_MISSING when it has never joined) and its certificate,
 * verified against the config's trust keyset. A missing or failing certificate is
 * reported in `problem`, not thrown: the node can still apply releases it verifies
 * itself, it just cannot be heard on gossip until it joins again.
 */
export async function loadNodeIdentity(config: Config, opts: { now: number; revoked?: (nodeId: string, serial: number) => boolean }): Promise<NodeIdentity> {
  let signer: Signer;
  try {
    signer = await loadKeyFile(config.node.key);
  } catch (err) {
    if (!isUpshiftError(err, 'E_KEY_MISSING')) throw err;
    throw new UpshiftError('E_KEY_MISSING', `node key ${config.node.key} does not exist; run \`upshift join --authority URL --token T\``, { cause: err });
  }
  const base = { nodeId: config.node.id, fleet: config.fleet, signer };
  let text: string;
  try {
    text = await readFile(config.node.cert, 'utf8');
  } catch (err) {
    const message = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `no certificate at ${config.node.cert}; run \`upshift join\`` : `cannot read ${config.node.cert}: ${(err as Error).message}`;
    return { ...base, cert: null, envelope: null, problem: { code: 'E_NOT_CERTIFIED', message } };
  }
  try {
    const envelope = JSON.parse(text) as Envelope;
    const cert = verifyCert(envelope, keysetOf(config), { now: opts.now, fleet: config.fleet, ...(opts.revoked ? { revoked: opts.revoked } : {}) });
    checkCertIsMine(cert, config.node.id, signer);
    return { ...base, cert, envelope, problem: null };
  } catch (err) {
    const e = toUpshiftError(err, 'E_NOT_CERTIFIED');
    return { ...base, cert: null, envelope: null, problem: { code: e.code, message: e.message } };
  }
}

/** Replace node.cert atomically (tmp file, fsync, rename, directory fsync): a crash leaves the old or the new, never half. */
export async function writeCertFile(path: string, envelope: Envelope): Promise<void> {
  await writeFileAtomic(path, `${serializeEnvelope(envelope)}\n`);
}

/** Replace a public file (mode 0644) atomically, creating its directory (0700) if need be. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(text);
    await fh.chmod(0o644); // the umask may have narrowed the create mode; a certificate is public
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const dh = await open(dir, 'r');
  await dh.sync().catch(() => undefined);
  await dh.close();
}

export interface IssueDeps {
  store: StateStore;
  /** Addresses a certificate may name (gossip.allow); default: any host but the forbidden ones. */
  peerPolicy?: PeerUrlPolicy;
  /** The authority's release signers; together they must meet the trust threshold. */
  signers: readonly Signer[];
  keyset: Keyset;
  fleet: string;
  now: () => number;
  certTtlMs?: number;
}

interface IssueRequest {
  nodeId: string;
  publicKey: string;
  labels: Record<string, string>;
  url?: string | undefined;
  tokenHash: string | null;
}

/**
 * Sign a certificate inside the store's issuing transaction (IdentityStore.issue), once the
 * serial is known. A node id still held by a valid certificate for another key is refused
 * (revoke it first), so a token cannot be used to take over a running node's name; older
 * certificates of the node are superseded. Any throw here commits nothing.
 */
function signDraft(deps: IssueDeps, req: IssueRequest, draft: CertDraft, now: number): { issued: IssuedCert; envelope: Envelope; cert: NodeCert } {
  const { held, serial } = draft;
  // the address every peer will call: checked against policy before anything commits
  if (req.url !== undefined) (deps.peerPolicy ?? new PeerUrlPolicy()).check(req.url);
  if (held && held.revokedAt === null && held.expiresAt > now && held.publicKey !== req.publicKey) {
    throw new UpshiftError('E_EXISTS', `node id ${req.nodeId} holds a valid certificate (serial ${held.serial}) for another key; revoke it first with \`upshift fleet revoke ${req.nodeId} --reason ...\``, {
      details: { node_id: req.nodeId, serial: held.serial },
    });
  }
  // The token's labels win: the operator who made it decides where the node sits.
  const labels = { ...req.labels, ...(draft.token?.labels ?? {}) };
  const expiresAt = now + (deps.certTtlMs ?? DEFAULT_CERT_TTL_MS);
  const envelope = issueCert({
    fleet: deps.fleet, node_id: req.nodeId, public_key: req.publicKey, labels, ...(req.url === undefined ? {} : { url: req.url }), serial,
    issued_at: new Date(now).toISOString(), expires_at: new Date(expiresAt).toISOString(),
  }, deps.signers);
  // Fail closed before anything commits: signers that do not meet the trust threshold would hand out a useless certificate.
  let cert: NodeCert;
  try {
    cert = verifyCert(envelope, deps.keyset, { now, fleet: deps.fleet });
  } catch (err) {
    throw new UpshiftError('E_INTERNAL', `a certificate signed with the authority's signing keys does not verify against its own trust keyset: ${(err as Error).message}`, { cause: err });
  }
  const event = {
    actor: req.tokenHash ? 'join' : 'authority',
    data: { node_id: req.nodeId, serial, public_key: req.publicKey, labels, url: req.url ?? null },
  };
  return { issued: { publicKey: req.publicKey, labels, cert: serializeEnvelope(envelope), issuedAt: now, expiresAt, event }, envelope, cert };
}

/** Spend the token (if any) and issue, in one store transaction. */
async function issue(deps: IssueDeps, req: IssueRequest): Promise<{ envelope: Envelope; cert: NodeCert }> {
  const now = deps.now();
  let signed: { envelope: Envelope; cert: NodeCert } | undefined;
  await deps.store.identity.issue({
    nodeId: req.nodeId, tokenHash: req.tokenHash, at: now,
    sign: (draft) => {
      const r = signDraft(deps, req, draft, now);
      signed = { envelope: r.envelope, cert: r.cert };
      return r.issued;
    },
  });
  return signed as { envelope: Envelope; cert: NodeCert };
}

export interface JoinResponse {
  status: number;
  body: { ok: true; cert: Envelope; serial: number; expires_at: string } | { ok: false; error: Record<string, unknown> };
}

/**
 * POST /v1/join on the authority. Parse strictly, check the node key and its proof of
 * possession, then in one transaction spend the token and issue the certificate: any
 * refusal before the commit leaves the token unspent.
 */
export async function handleJoin(body: unknown, deps: IssueDeps): Promise<JoinResponse> {
  try {
    const req = parseJoinRequest(body);
    verifyJoinProof(req);
    const tokenHash = hashToken(req.token);
    const { envelope, cert } = await issue(deps, { nodeId: req.node_id, publicKey: req.public_key, labels: req.labels ?? {}, url: req.url, tokenHash });
    return { status: 200, body: { ok: true, cert: envelope, serial: cert.serial, expires_at: cert.expires_at } };
  } catch (err) {
    if (!isUpshiftError(err)) return { status: 500, body: { ok: false, error: { code: 'E_INTERNAL', message: 'internal error while joining' } } };
    return { status: err.status, body: { ok: false, error: err.toJSON() } };
  }
}

/** On the authority: certify its own node key directly with the release signers (no token). */
export async function certifySelf(config: Config, deps: IssueDeps): Promise<{ cert: NodeCert; created: boolean }> {
  // the key is on disk before the certificate commits: a crash between the two leaves a key to certify again
  const { signer, created } = await loadOrCreateNodeKey(config.node.key);
  const { envelope, cert } = await issue(deps, {
    nodeId: config.node.id, publicKey: toHex(signer.publicKey), labels: config.node.labels, url: advertisedUrl(config), tokenHash: null,
  }).catch(async (err: unknown) => {
    if (!isUpshiftError(err, 'E_EXISTS')) throw err;
    // another replica of this authority certified the node id for a key of its own
    if (created) await unlink(config.node.key).catch(() => undefined);
    throw new UpshiftError('E_EXISTS', `${err.message}. Authority replicas share one node identity: copy ${config.node.key} from the replica `
      + 'that made it (or its whole config dir, as `upshift init --authority` wrote it) before starting this one', { cause: err, details: err.details });
  });
  await writeCertFile(config.node.cert, envelope);
  return { cert, created };
}
