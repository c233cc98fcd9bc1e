import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../../../src/adapters/sqlite/store.js';
import { PeerUrlPolicy } from '../../../src/core/peer-url.js';
import { handleJoin, revocationCheck, type IssueDeps } from '../../../src/node/identity.js';
import { toBase64, toHex } from '../../../src/trust/bytes.js';
import { buildJoinRequest, hashToken, newJoinToken } from '../../../src/trust/join-token.js';
import { signerFromSeed } from '../../../src/trust/keyfile.js';
import { loadKeyset } from '../../../src/trust/keyset.js';
import { verifyCert } from '../../../src/trust/node-cert.js';
import { tempDir } from '../../helpers/tmp.js';

const signer = (n: number) => signerFromSeed(new Uint8Array(32).fill(n));
const release = signer(1);
const keyset = loadKeyset({ keys: [{ public: toHex(release.publicKey) }] });
const HOUR = 3_600_000;

/** An authority's store, a clock the test moves, and a way to mint tokens. */
function authority(t: { teardown(fn: () => void): void }) {
  const dir = tempDir(t);
  let now = Date.parse('2025-06-01T12:00:00.000Z');
  const store = Store.open(join(dir, 'upshift.db'), () => now);
  t.teardown(() => store.close());
  const tables = store.identity;
  const deps: IssueDeps = { store, signers: [release], keyset, fleet: 'edge', now: () => now };
  const mint = async (opts: { labels?: Record<string, string>; nodeId?: string; ttl?: number } = {}) => {
    const token = newJoinToken();
    await tables.addToken({ tokenHash: hashToken(token), labels: opts.labels ?? {}, nodeId: opts.nodeId ?? null, createdAt: now, expiresAt: now + (opts.ttl ?? HOUR) });
    return token;
  };
  return { dir, store, tables, deps, mint, advance: (ms: number) => void (now += ms), now: () => now };
}

t.test('a join token works once and only once', async (t) => {
  const a = authority(t);
  const token = await a.mint({ labels: { region: 'eu' } });
  const first = await handleJoin(buildJoinRequest(token, 'node-1', { region: 'us', rack: 'r1' }, signer(3)), a.deps);
  t.equal(first.status, 200, 'the first join is certified');
  if (!first.body.ok) return t.fail(JSON.stringify(first.body));
  const cert = verifyCert(first.body.cert, keyset, { now: a.now(), fleet: 'edge' });
  t.equal(cert.public_key, toHex(signer(3).publicKey));
  t.same(cert.labels, { region: 'eu', rack: 'r1' }, "the token's labels win over the node's");
  t.equal((await a.tables.certs()).length, 1, 'the cert is stored');

  const again = await handleJoin(buildJoinRequest(token, 'node-2', {}, signer(4)), a.deps);
  t.equal(again.status, 403);
  t.match(again.body, { ok: false, error: { code: 'E_TOKEN', message: /already used by node-1/ } });
  t.equal((await a.tables.certs()).length, 1, 'no second cert');
});

t.test('a join token is refused after expiry and stays unused', async (t) => {
  const a = authority(t);
  const token = await a.mint({ ttl: HOUR });
  a.advance(HOUR);
  const r = await handleJoin(buildJoinRequest(token, 'node-1', {}, signer(3)), a.deps);
  t.match(r, { status: 403, body: { ok: false, error: { code: 'E_TOKEN', message: /expired/ } } });
  t.equal((await a.tables.token(hashToken(token)))?.usedAt, null);
});

t.test('a join with a bad proof is refused and the token is not consumed', async (t) => {
  const a = authority(t);
  const token = await a.mint();
  const req = buildJoinRequest(token, 'node-1', {}, signer(3));
  // the proof is by another key than the one the node asks to be certified
  const forged = { ...req, proof: buildJoinRequest(token, 'node-1', {}, signer(4)).proof };
  t.match(await handleJoin(forged, a.deps), { status: 422, body: { ok: false, error: { code: 'E_SIG_INVALID' } } });
  // a proof over another node id does not transfer either
  const moved = { ...buildJoinRequest(token, 'node-9', {}, signer(3)), node_id: 'node-1' };
  t.match(await handleJoin(moved, a.deps), { status: 422, body: { error: { code: 'E_SIG_INVALID' } } });
  t.equal((await a.tables.token(hashToken(token)))?.usedAt, null, 'the token is unspent');
  t.equal((await handleJoin(req, a.deps)).status, 200, 'and still works with a good proof');
});

t.test('a malformed or small-order join is refused without spending the token', async (t) => {
  const a = authority(t);
  const token = await a.mint();
  const good = buildJoinRequest(token, 'node-1', {}, signer(3));
  const cases: Array<[string, unknown, string]> = [
    ['not an object', 'hello', 'E_MALFORMED'],
    ['an extra field', { ...good, admin: true }, 'E_MALFORMED'],
    ['a bad node id', { ...good, node_id: 'Node One' }, 'E_MALFORMED'],
    ['a short proof', { ...good, proof: toBase64(new Uint8Array(10)) }, 'E_MALFORMED'],
    ['a small-order key', { ...good, public_key: '01' + '00'.repeat(31), proof: toBase64(new Uint8Array(64)) }, 'E_SMALL_ORDER_KEY'],
  ];
  for (const [name, body, code] of cases) t.match(await handleJoin(body, a.deps), { body: { ok: false, error: { code } } }, name);
  t.equal((await a.tables.token(hashToken(token)))?.usedAt, null);
});

t.test('a token made for one node cannot be used by another', async (t) => {
  const a = authority(t);
  const token = await a.mint({ nodeId: 'node-1' });
  t.match(await handleJoin(buildJoinRequest(token, 'node-2', {}, signer(4)), a.deps), { body: { error: { code: 'E_TOKEN', message: /made for node node-1/ } } });
  t.equal((await handleJoin(buildJoinRequest(token, 'node-1', {}, signer(3)), a.deps)).status, 200);
});

t.test('a node id held by another key is refused until the operator revokes it', async (t) => {
  const a = authority(t);
  t.equal((await handleJoin(buildJoinRequest((await a.mint()), 'node-1', {}, signer(3)), a.deps)).status, 200);
  const token = await a.mint();
  t.match(await handleJoin(buildJoinRequest(token, 'node-1', {}, signer(4)), a.deps), { status: 409, body: { error: { code: 'E_EXISTS' } } });
  t.equal((await a.tables.token(hashToken(token)))?.usedAt, null, 'the refused token is unspent');

  await a.tables.revoke('node-1', 1, 'disk lost', a.now());
  const r = await handleJoin(buildJoinRequest(token, 'node-1', {}, signer(4)), a.deps);
  t.equal(r.status, 200, 'after revocation the node can join with a new key');
  const [old, fresh] = await a.tables.certs('node-1');
  const revoked = await revocationCheck(a.store);
  t.throws(() => verifyCert(old?.cert as string, keyset, { now: a.now(), fleet: 'edge', revoked }), { code: 'E_REVOKED' });
  t.equal(verifyCert(fresh?.cert as string, keyset, { now: a.now(), fleet: 'edge', revoked }).serial, 2);
});

t.test('re-joining with the same key supersedes the older cert', async (t) => {
  const a = authority(t);
  await handleJoin(buildJoinRequest((await a.mint()), 'node-1', {}, signer(3)), a.deps);
  await handleJoin(buildJoinRequest((await a.mint()), 'node-1', {}, signer(3)), a.deps);
  t.match(await a.tables.certs('node-1'), [{ serial: 1, revokeReason: /superseded by serial 2/ }, { serial: 2, revokedAt: null }]);
});

t.test('only the hash of a token is stored, and every issue is audited', async (t) => {
  const a = authority(t);
  const token = await a.mint();
  await handleJoin(buildJoinRequest(token, 'node-1', {}, signer(3)), a.deps);
  a.store.close();
  t.notOk(readFileSync(join(a.dir, 'upshift.db')).includes(token), 'the token text is nowhere in the database');
  const store = Store.open(join(a.dir, 'upshift.db'), () => 0);
  t.teardown(() => store.close());
  t.match((await store.events()).map((e) => e.kind), ['identity.cert_issued']);
});

t.test('signers that do not meet the trust threshold issue nothing', async (t) => {
  const a = authority(t);
  const token = await a.mint();
  const r = await handleJoin(buildJoinRequest(token, 'node-1', {}, signer(3)), { ...a.deps, signers: [signer(8)] });
  t.match(r, { status: 500, body: { error: { code: 'E_INTERNAL', message: /trust keyset/ } } });
  t.equal((await a.tables.token(hashToken(token)))?.usedAt, null);
  t.equal((await a.tables.certs()).length, 0);
});

t.test("a node's address is certified at join, covered by its proof, and checked against the authority's policy", async (t) => {
  const a = authority(t);
  const token = await a.mint();
  const req = buildJoinRequest(token, 'node-1', {}, signer(3), 'http://10.0.0.5:7400');
  const moved = { ...req, url: 'http://10.6.6.6:7400' };
  t.match(await handleJoin(moved, a.deps), { body: { ok: false, error: { code: 'E_SIG_INVALID' } } }, 'an address swapped on the way does not carry the proof');
  const metadata = buildJoinRequest(token, 'node-1', {}, signer(3), 'http://169.254.169.254');
  t.match(await handleJoin(metadata, a.deps), { status: 400, body: { ok: false, error: { code: 'E_PEER_URL' } } });
  const outside = buildJoinRequest(token, 'node-1', {}, signer(3), 'http://192.168.7.7:7400');
  t.match(await handleJoin(outside, { ...a.deps, peerPolicy: new PeerUrlPolicy(['10.0.0.0/8']) }), { body: { error: { code: 'E_PEER_URL', message: /gossip\.allow/ } } });
  const userinfo = { ...buildJoinRequest(token, 'node-1', {}, signer(3)), url: 'http://u:p@10.0.0.5' };
  t.match(await handleJoin(userinfo, a.deps), { body: { error: { code: 'E_MALFORMED', message: /url/ } } });
  t.equal((await a.tables.token(hashToken(token)))?.usedAt, null, 'every refusal leaves the token unspent');
  const ok = await handleJoin(req, a.deps);
  if (!ok.body.ok) return t.fail(JSON.stringify(ok.body));
  t.equal(verifyCert(ok.body.cert, keyset, { now: a.now(), fleet: 'edge' }).url, 'http://10.0.0.5:7400', 'the certificate names the address');
});

t.test('a join token never starts with "-": `--token -V…` would print the version and join nothing', async (t) => {
  const tokens = Array.from({ length: 2000 }, newJoinToken);
  t.same(tokens.filter((s) => s.startsWith('-')), [], 'of 2000 tokens (one in 64 would start with "-" unchecked)');
  t.ok(tokens.every((s) => /^[A-Za-z0-9_-]{43}$/.test(s)), 'still 43 base64url characters');
});
