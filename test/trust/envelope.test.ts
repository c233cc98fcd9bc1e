import t from 'tap';
import { PAYLOAD_TYPES } from '../../src/core/manifest.js';
import { fromBase64, toBase64, toHex } from '../../src/trust/bytes.js';
import { MAX_PAYLOAD_BYTES, parseEnvelope, serializeEnvelope, signEnvelope, verifyEnvelope, type Envelope } from '../../src/trust/envelope.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';

const signer = (n: number) => signerFromSeed(new Uint8Array(32).fill(n));
const [a, b, c, stranger] = [signer(1), signer(2), signer(3), signer(4)];
const keysetOf = (threshold: number, ...ss: Array<typeof a>) => loadKeyset({ keys: ss.map((s) => ({ public: toHex(s.publicKey) })), threshold });
const HB = PAYLOAD_TYPES.heartbeat;
const body = new TextEncoder().encode('{"node":"n1"}');

function flip(b64: string, index: number): string {
  const bytes = fromBase64(b64) as Uint8Array;
  bytes[index] = (bytes[index] as number) ^ 0x01;
  return toBase64(bytes);
}

t.test('an envelope signed and verified returns the exact payload bytes', async (t) => {
  const env = signEnvelope(HB, body, [a]);
  t.same([...verifyEnvelope(env, keysetOf(1, a), HB)], [...body]);
  t.same([...verifyEnvelope(parseEnvelope(serializeEnvelope(env)), keysetOf(1, a), HB)], [...body], 'through its wire form');
});

t.test('an envelope with one flipped payload byte fails with E_SIG_INVALID', async (t) => {
  const env = signEnvelope(HB, body, [a]);
  for (const i of [0, 5, body.length - 1]) {
    t.throws(() => verifyEnvelope({ ...env, payload: flip(env.payload, i) }, keysetOf(1, a), HB), { code: 'E_SIG_INVALID' }, `byte ${i}`);
  }
});

t.test('an envelope with one flipped signature byte fails with E_SIG_INVALID', async (t) => {
  const env = signEnvelope(HB, body, [a]);
  for (const i of [0, 31, 32, 63]) {
    const sig = { ...env.signatures[0]!, sig: flip(env.signatures[0]!.sig, i) };
    t.throws(() => verifyEnvelope({ ...env, signatures: [sig] }, keysetOf(1, a), HB), { code: 'E_SIG_INVALID' }, `byte ${i}`);
  }
});

t.test('a signature is bound to its payload type', async (t) => {
  const env = signEnvelope(HB, body, [a]);
  t.throws(() => verifyEnvelope(env, keysetOf(1, a), PAYLOAD_TYPES.manifest), { code: 'E_PAYLOAD_TYPE' });
  // Relabelling the type changes the PAE, so the signature no longer covers it.
  t.throws(() => verifyEnvelope({ ...env, payloadType: PAYLOAD_TYPES.manifest }, keysetOf(1, a), PAYLOAD_TYPES.manifest), { code: 'E_SIG_INVALID' });
});

t.test('an envelope signed only by unknown keys fails with E_UNKNOWN_KEY', async (t) => {
  t.throws(() => verifyEnvelope(signEnvelope(HB, body, [stranger]), keysetOf(1, a), HB), { code: 'E_UNKNOWN_KEY' });
});

t.test('signatures by unknown keys are ignored beside a trusted one', async (t) => {
  const env = signEnvelope(HB, body, [stranger, a]);
  t.ok(verifyEnvelope(env, keysetOf(1, a), HB));
  // Even a garbage signature under an unknown keyid is not looked at.
  const junk = { keyid: 'ed25519:ffffffffffffffff', sig: toBase64(new Uint8Array(64)) };
  t.ok(verifyEnvelope({ ...env, signatures: [junk, ...env.signatures] }, keysetOf(1, a), HB));
});

t.test('threshold 2 with one signature fails with E_THRESHOLD', async (t) => {
  t.throws(() => verifyEnvelope(signEnvelope(HB, body, [a]), keysetOf(2, a, b, c), HB), { code: 'E_THRESHOLD' });
  t.ok(verifyEnvelope(signEnvelope(HB, body, [a, c]), keysetOf(2, a, b, c), HB), 'two distinct keys meet it');
});

t.test('the same key signing twice counts once', async (t) => {
  t.throws(() => verifyEnvelope(signEnvelope(HB, body, [a, a]), keysetOf(2, a, b), HB), { code: 'E_THRESHOLD' });
});

t.test('one bad signature by a known key fails closed even when the threshold is met', async (t) => {
  const env = signEnvelope(HB, body, [a, b]);
  const bad = { keyid: c.keyid, sig: env.signatures[0]!.sig };
  t.throws(() => verifyEnvelope({ ...env, signatures: [...env.signatures, bad] }, keysetOf(1, a, b, c), HB), { code: 'E_SIG_INVALID' });
});

t.test('parseEnvelope refuses anything that is not a strict envelope', async (t) => {
  const env = signEnvelope(HB, body, [a]);
  const wire = (e: unknown): string => JSON.stringify(e);
  const variants: Record<string, string> = {
    'not JSON': '{',
    'an unknown field': wire({ ...env, extra: 1 }),
    'an unknown signature field': wire({ ...env, signatures: [{ ...env.signatures[0], cert: 'x' }] }),
    'unpadded base64': wire({ ...env, payload: env.payload.replace(/=+$/, '') }),
    'url-safe base64': wire({ ...env, payload: toBase64(Uint8Array.of(0xfb, 0xff)).replace(/\+/g, '-').replace(/\//g, '_') }),
    'base64 with whitespace': wire({ ...env, payload: `${env.payload.slice(0, 4)}\n${env.payload.slice(4)}` }),
    'a short signature': wire({ ...env, signatures: [{ keyid: a.keyid, sig: toBase64(new Uint8Array(63)) }] }),
    'no signatures': wire({ ...env, signatures: [] }),
    'seventeen signatures': wire({ ...env, signatures: Array(17).fill(env.signatures[0]) }),
    'a missing payload type': wire({ payload: env.payload, signatures: env.signatures }),
  };
  for (const [name, text] of Object.entries(variants)) t.throws(() => parseEnvelope(text), { code: 'E_MANIFEST_PARSE' }, name);
  t.throws(() => parseEnvelope(Uint8Array.of(0x7b, 0xff)), { code: 'E_MANIFEST_PARSE' }, 'invalid UTF-8');
  const bomb = `{"payloadType":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
  t.throws(() => parseEnvelope(bomb), { code: 'E_MANIFEST_PARSE', message: /nested deeper than 32/ }, 'a nesting bomb, refused before JSON.parse');
  t.same(parseEnvelope(new TextEncoder().encode(serializeEnvelope(env))), env, 'bytes of a good one parse');
});

t.test('payloads over 1 MiB are refused both when signing and when parsing', async (t) => {
  const big = new Uint8Array(MAX_PAYLOAD_BYTES + 1);
  t.throws(() => signEnvelope(HB, big, [a]), { code: 'E_USAGE' });
  const env: Envelope = { payloadType: HB, payload: toBase64(big), signatures: signEnvelope(HB, body, [a]).signatures };
  t.throws(() => parseEnvelope(JSON.stringify(env)), { code: 'E_MANIFEST_PARSE' });
  const max = signEnvelope(HB, new Uint8Array(MAX_PAYLOAD_BYTES), [a]);
  t.equal(verifyEnvelope(parseEnvelope(serializeEnvelope(max)), keysetOf(1, a), HB).length, MAX_PAYLOAD_BYTES, 'exactly 1 MiB is fine');
});
