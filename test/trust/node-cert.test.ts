import t from 'tap';
import { canonicalBytes } from '../../src/core/canonical-json.js';
import { PAYLOAD_TYPES } from '../../src/core/manifest.js';
import { fromBase64, toBase64, toHex } from '../../src/trust/bytes.js';
import { serializeEnvelope, signEnvelope } from '../../src/trust/envelope.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { issueCert, NODE_CERT_PAYLOAD_TYPE, NODE_CERT_SCHEMA, verifyCert, type NodeCert } from '../../src/trust/node-cert.js';

const signer = (n: number) => signerFromSeed(new Uint8Array(32).fill(n));
const [authA, authB, node, stranger] = [signer(1), signer(2), signer(3), signer(9)];
const keyset = loadKeyset({ keys: [{ public: toHex(authA.publicKey) }, { public: toHex(authB.publicKey) }], threshold: 1 });
const SMALL_ORDER_KEY = '01' + '00'.repeat(31);

const NOW = Date.parse('2025-06-01T12:00:00.000Z');
const fields: Omit<NodeCert, 'schema'> = {
  fleet: 'edge',
  node_id: 'node-1',
  public_key: toHex(node.publicKey),
  labels: { region: 'eu' },
  serial: 7,
  issued_at: '2025-06-01T00:00:00.000Z',
  expires_at: '2026-06-01T00:00:00.000Z',
};
const check = { now: NOW, fleet: 'edge' };

t.test('a cert issued by the authority verifies, from the envelope or its wire text', async (t) => {
  const env = issueCert(fields, [authA]);
  t.equal(env.payloadType, NODE_CERT_PAYLOAD_TYPE);
  t.same(verifyCert(env, keyset, check), { schema: NODE_CERT_SCHEMA, ...fields });
  t.equal(verifyCert(serializeEnvelope(env), keyset, check).node_id, 'node-1');
});

t.test('a cert for another fleet is refused with E_NOT_CERTIFIED', async (t) => {
  t.throws(() => verifyCert(issueCert({ ...fields, fleet: 'core' }, [authA]), keyset, check), { code: 'E_NOT_CERTIFIED', details: { reason: 'E_WRONG_FLEET' } });
});

t.test('an expired cert is refused with E_NOT_CERTIFIED', async (t) => {
  const env = issueCert(fields, [authA]);
  t.throws(() => verifyCert(env, keyset, { ...check, now: Date.parse(fields.expires_at) }), { code: 'E_NOT_CERTIFIED', details: { reason: 'E_EXPIRED' } });
  const future = issueCert({ ...fields, issued_at: '2025-06-02T00:00:00.000Z' }, [authA]);
  t.throws(() => verifyCert(future, keyset, check), { code: 'E_NOT_CERTIFIED', message: /future/ }, 'a cert issued a day ahead of this clock');
});

t.test('a tampered cert is refused with E_NOT_CERTIFIED', async (t) => {
  const env = issueCert(fields, [authA]);
  const bytes = fromBase64(env.payload) as Uint8Array;
  // "node-1" → "node-3": still a valid cert, so only the signature can catch it
  const at = new TextDecoder().decode(bytes).indexOf('"node-1"') + 6;
  bytes[at] = (bytes[at] as number) ^ 0x02;
  t.throws(() => verifyCert({ ...env, payload: toBase64(bytes) }, keyset, check), { code: 'E_NOT_CERTIFIED', details: { reason: 'E_SIG_INVALID' } });
});

t.test('a cert signed by an unknown key is refused with E_NOT_CERTIFIED', async (t) => {
  t.throws(() => verifyCert(issueCert(fields, [stranger]), keyset, check), { code: 'E_NOT_CERTIFIED', details: { reason: 'E_UNKNOWN_KEY' } });
});

t.test('the trust threshold applies to certs as it does to manifests', async (t) => {
  const two = loadKeyset({ keys: [{ public: toHex(authA.publicKey) }, { public: toHex(authB.publicKey) }], threshold: 2 });
  t.throws(() => verifyCert(issueCert(fields, [authA]), two, check), { code: 'E_NOT_CERTIFIED', details: { reason: 'E_THRESHOLD' } });
  t.equal(verifyCert(issueCert(fields, [authA, authB]), two, check).serial, 7);
});

t.test("a revoked node's cert is refused with E_REVOKED", async (t) => {
  const env = issueCert(fields, [authA]);
  const revoked = (nodeId: string, serial: number) => nodeId === 'node-1' && serial <= 7;
  t.throws(() => verifyCert(env, keyset, { ...check, revoked }), { code: 'E_REVOKED' });
  t.equal(verifyCert(issueCert({ ...fields, serial: 8 }, [authA]), keyset, { ...check, revoked }).serial, 8, 'a later serial is not revoked');
});

t.test('a signed manifest cannot pass as a cert, nor a cert as anything else', async (t) => {
  const env = signEnvelope(PAYLOAD_TYPES.manifest, canonicalBytes({ schema: NODE_CERT_SCHEMA, ...fields }), [authA]);
  t.throws(() => verifyCert(env, keyset, check), { code: 'E_NOT_CERTIFIED', details: { reason: 'E_PAYLOAD_TYPE' } });
});

t.test('a small-order node key is never certified', async (t) => {
  t.throws(() => issueCert({ ...fields, public_key: SMALL_ORDER_KEY }, [authA]), { code: 'E_SMALL_ORDER_KEY' });
  // even if the authority's keys signed one by other means, verification refuses it
  const env = signEnvelope(NODE_CERT_PAYLOAD_TYPE, canonicalBytes({ schema: NODE_CERT_SCHEMA, ...fields, public_key: SMALL_ORDER_KEY }), [authA]);
  t.throws(() => verifyCert(env, keyset, check), { code: 'E_NOT_CERTIFIED', details: { reason: 'E_SMALL_ORDER_KEY' } });
});

t.test('signed but non-canonical or off-schema cert bytes are refused', async (t) => {
  const text = new TextDecoder().decode(canonicalBytes({ schema: NODE_CERT_SCHEMA, ...fields }));
  const dup = new TextEncoder().encode(text.replace('"serial":7', '"serial":7,"serial":1'));
  t.throws(() => verifyCert(signEnvelope(NODE_CERT_PAYLOAD_TYPE, dup, [authA]), keyset, check), { code: 'E_NOT_CERTIFIED', details: { reason: 'E_MANIFEST_PARSE' } });
  const extra = canonicalBytes({ schema: NODE_CERT_SCHEMA, ...fields, admin: true });
  t.throws(() => verifyCert(signEnvelope(NODE_CERT_PAYLOAD_TYPE, extra, [authA]), keyset, check), { code: 'E_NOT_CERTIFIED', details: { reason: 'E_MANIFEST_SCHEMA' } });
});

t.test("a cert may name the node's address, and only a plain http(s) one", async (t) => {
  const env = issueCert({ ...fields, url: 'http://10.0.0.5:7400' }, [authA]);
  t.equal(verifyCert(env, keyset, check).url, 'http://10.0.0.5:7400', 'the address is signed with the rest');
  t.equal(verifyCert(issueCert(fields, [authA]), keyset, check).url, undefined, 'older certificates without one still verify');
  for (const url of ['ftp://10.0.0.5', 'http://user:pw@10.0.0.5', 'http://10.0.0.5/?x=1', `http://${'a'.repeat(260)}`]) {
    t.throws(() => issueCert({ ...fields, url }, [authA]), { code: 'E_MANIFEST_SCHEMA' }, url);
  }
});
