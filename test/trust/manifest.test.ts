import t from 'tap';
import { canonicalize } from '../../src/core/canonical-json.js';
import { checkManifestAcceptable } from '../../src/core/decisions/acceptance.js';
import {
  decodeManifest,
  encodeManifest,
  PAYLOAD_TYPES,
  pae,
  type ManifestPayload,
} from '../../src/core/manifest.js';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

function sampleManifest(over: Partial<ManifestPayload> = {}): ManifestPayload {
  return {
    schema: 'upshift.manifest/v1',
    fleet: 'edge',
    track: 'stable',
    seq: 7,
    version: '1.4.0',
    commit: 'a'.repeat(40),
    code_hash: 'b'.repeat(64),
    created_at: '2025-03-01T10:00:00.000Z',
    expires_at: '2025-03-08T10:00:00.000Z',
    kind: 'release',
    targets: 'all',
    evidence: {
      run_id: 'run-1',
      test: { passed: 98, failed: 2, skipped: 1, pass_rate: 0.98 },
      benchmark: {
        baseline_version: '1.3.2',
        regressions: 0,
        metrics: { p99_ms: { value: 12.5, better: 'lower', baseline: 13, change: -0.0385 } },
      },
      notes: ['canary passed'],
    },
    ...over,
  };
}

const PINNED =
  '{"code_hash":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",' +
  '"commit":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",' +
  '"created_at":"2025-03-01T10:00:00.000Z",' +
  '"evidence":{"benchmark":{"baseline_version":"1.3.2","metrics":{"p99_ms":{"baseline":13,"better":"lower","change":-0.0385,"value":12.5}},"regressions":0},' +
  '"notes":["canary passed"],"run_id":"run-1","test":{"failed":2,"pass_rate":0.98,"passed":98,"skipped":1}},' +
  '"expires_at":"2025-03-08T10:00:00.000Z","fleet":"edge","kind":"release","schema":"upshift.manifest/v1",' +
  '"seq":7,"targets":"all","track":"stable","version":"1.4.0"}';

t.test('manifest bytes are canonical and pinned to one exact byte string', async (t) => {
  t.equal(text(encodeManifest(sampleManifest())), PINNED);
});

t.test('manifest bytes do not depend on the order fields were written in', async (t) => {
  const shuffled = Object.fromEntries(Object.entries(sampleManifest()).reverse()) as ManifestPayload;
  t.equal(text(encodeManifest(shuffled)), PINNED);
  t.same(decodeManifest(bytes(PINNED)), sampleManifest());
});

t.test('a manifest with a bundle and a canary target list round-trips', async (t) => {
  const p = sampleManifest({
    targets: ['node-2', 'node-1'],
    kind: 'rollback',
    commit: 'c'.repeat(64),
    bundle: { url: 'https://example.invalid/b.tar.gz', sha256: 'd'.repeat(64), length: 1024 },
  });
  t.same(decodeManifest(encodeManifest(p)), p);
});

t.test('PAE bytes for a known input follow DSSE v1', async (t) => {
  t.equal(text(pae('http://example.com/HelloWorld', bytes('hello world'))), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  t.equal(text(pae(PAYLOAD_TYPES.manifest, new Uint8Array())), 'DSSEv1 37 application/vnd.upshift.manifest+json 0 ');
  // Lengths count bytes, not characters.
  t.same([...pae('é', Uint8Array.of(0xff))], [...bytes('DSSEv1 2 é 1 '), 0xff]);
});

t.test('schema problems are all reported by dot-path with E_MANIFEST_SCHEMA', async (t) => {
  const bad = { ...sampleManifest(), seq: 0, commit: 'ABC', targets: ['n1', 'n1'], extra: 1 };
  const err = t.throws(() => encodeManifest(bad as unknown as ManifestPayload), { code: 'E_MANIFEST_SCHEMA' }) as unknown as Error;
  for (const path of ['seq', 'commit', 'targets', '(root)']) t.match(err.message, `${path}:`);
});

t.test('decodeManifest refuses unknown fields, nested ones too', async (t) => {
  const top = canonicalize({ ...sampleManifest(), extra: 1 });
  t.throws(() => decodeManifest(bytes(top)), { code: 'E_MANIFEST_SCHEMA', message: /extra/ });
  const m = sampleManifest();
  const nested = canonicalize({ ...m, evidence: { ...m.evidence, admin: true } });
  t.throws(() => decodeManifest(bytes(nested)), { code: 'E_MANIFEST_SCHEMA', message: /evidence/ });
});

t.test('decodeManifest refuses non-canonical bytes before looking at the schema', async (t) => {
  t.throws(() => decodeManifest(bytes(PINNED.replace('"seq":7', '"seq":7.0'))), { code: 'E_MANIFEST_PARSE' });
  t.throws(() => decodeManifest(bytes(PINNED.replace('"seq":7', '"seq":7,"seq":8'))), { code: 'E_MANIFEST_PARSE' });
});

t.test('field rules: timestamps, track, commit, version, targets, bundle', async (t) => {
  const cases: Array<[string, Partial<ManifestPayload>]> = [
    ['a timestamp without milliseconds', { created_at: '2025-03-01T10:00:00Z' }],
    ['a timestamp with an offset', { created_at: '2025-03-01T10:00:00.000+01:00' }],
    ['a day that does not exist', { created_at: '2025-02-30T10:00:00.000Z' }],
    ['expiry before creation', { expires_at: '2025-02-28T10:00:00.000Z' }],
    ['an uppercase track', { track: 'Stable' }],
    ['an abbreviated commit', { commit: 'a'.repeat(12) }],
    ['an empty version', { version: '' }],
    ['a 201-character version', { version: 'v'.repeat(201) }],
    ['an empty target list', { targets: [] }],
    ['an unsafe seq', { seq: 2 ** 53 }],
    ['a bundle with zero length', { bundle: { url: 'u', sha256: 'd'.repeat(64), length: 0 } }],
    ['an empty fleet', { fleet: '' }],
  ];
  for (const [name, over] of cases) t.throws(() => encodeManifest(sampleManifest(over)), { code: 'E_MANIFEST_SCHEMA' }, name);
});

const NOW = Date.parse('2025-03-05T00:00:00.000Z');
const limits = { maxTtl: 30 * 86_400_000, clockSkew: 5 * 60_000 };
const ctx = { now: NOW, limits, fleet: 'edge', track: 'stable', floorSeq: 6 };

t.test('a manifest above the floor is newer, at the floor is the same re-delivery', async (t) => {
  t.equal(checkManifestAcceptable(sampleManifest(), ctx), 'newer');
  t.equal(checkManifestAcceptable(sampleManifest(), { ...ctx, floorSeq: null }), 'newer');
  t.equal(checkManifestAcceptable(sampleManifest(), { ...ctx, floorSeq: 7 }), 'same');
});

t.test('a manifest below the floor fails with E_ROLLBACK', async (t) => {
  t.throws(() => checkManifestAcceptable(sampleManifest(), { ...ctx, floorSeq: 8 }), { code: 'E_ROLLBACK' });
});

t.test('a manifest fails with E_EXPIRED from the instant it expires', async (t) => {
  const expires = Date.parse(sampleManifest().expires_at);
  t.equal(checkManifestAcceptable(sampleManifest(), { ...ctx, now: expires - 1 }), 'newer');
  t.throws(() => checkManifestAcceptable(sampleManifest(), { ...ctx, now: expires }), { code: 'E_EXPIRED' });
});

t.test('a manifest valid for longer than the maximum TTL fails with E_MANIFEST_TTL, up to the limit it passes', async (t) => {
  const forever = sampleManifest({ expires_at: '9999-12-31T23:59:59.999Z' });
  t.throws(() => checkManifestAcceptable(forever, ctx), { code: 'E_MANIFEST_TTL', details: { max_ttl_ms: limits.maxTtl } });
  const atLimit = sampleManifest({ expires_at: new Date(Date.parse('2025-03-01T10:00:00.000Z') + limits.maxTtl).toISOString() });
  t.equal(checkManifestAcceptable(atLimit, ctx), 'newer', 'exactly the maximum');
  const overByOne = sampleManifest({ expires_at: new Date(Date.parse('2025-03-01T10:00:00.000Z') + limits.maxTtl + 1).toISOString() });
  t.throws(() => checkManifestAcceptable(overByOne, ctx), { code: 'E_MANIFEST_TTL' }, 'one ms more');
  t.throws(() => checkManifestAcceptable(forever, { ...ctx, floorSeq: 7 }), { code: 'E_MANIFEST_TTL' }, 'a re-delivery too');
});

t.test('a manifest created further ahead than the clock skew fails with E_NOT_YET_VALID', async (t) => {
  const at = (ms: number) => new Date(ms).toISOString();
  const ahead = (ms: number) => sampleManifest({ created_at: at(NOW + ms), expires_at: at(NOW + ms + 86_400_000) });
  t.equal(checkManifestAcceptable(ahead(limits.clockSkew), ctx), 'newer', 'within the skew');
  t.throws(() => checkManifestAcceptable(ahead(limits.clockSkew + 1), ctx), { code: 'E_NOT_YET_VALID' });
  t.throws(() => checkManifestAcceptable(ahead(365 * 86_400_000), ctx), { code: 'E_NOT_YET_VALID', message: /in the future/ }, 'a year ahead');
});

t.test('a manifest for another fleet or track is refused', async (t) => {
  t.throws(() => checkManifestAcceptable(sampleManifest(), { ...ctx, fleet: 'core' }), { code: 'E_WRONG_FLEET' });
  t.throws(() => checkManifestAcceptable(sampleManifest(), { ...ctx, track: 'beta' }), { code: 'E_WRONG_TRACK' });
  const { track: _omit, ...anyTrack } = ctx;
  t.equal(checkManifestAcceptable(sampleManifest({ track: 'beta' }), anyTrack), 'newer');
});
