// The acceptance rules every door applies to a verified manifest, as one table.
import t from 'tap';
import { acceptForApply, acceptForHolding, DEFAULT_MANIFEST_LIMITS, type ApplyAcceptance } from '../../src/core/decisions/acceptance.js';
import type { ManifestPayload } from '../../src/core/manifest.js';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const payload = (p: Partial<ManifestPayload> = {}): ManifestPayload => ({
  schema: 'upshift.manifest/v1', fleet: 'edge', track: 'testnet', seq: 5, version: 'v5', commit: 'c'.repeat(40), code_hash: 'd'.repeat(64),
  created_at: iso(NOW - 60_000), expires_at: iso(NOW + 86_400_000), kind: 'release', targets: 'all',
  evidence: { run_id: 'r-5', test: null, benchmark: null, notes: [] }, ...p,
});
const base: ApplyAcceptance = {
  now: NOW, limits: DEFAULT_MANIFEST_LIMITS, node: { id: 'web-1', fleet: 'edge', tracks: ['testnet'] }, floorSeq: 4, badMark: null,
};

const cases: Array<{ name: string; p?: Partial<ManifestPayload>; a?: Partial<ApplyAcceptance>; want: 'newer' | 'same' | string }> = [
  { name: 'a newer fleet-wide release is applied', want: 'newer' },
  { name: 'nothing applied yet: any seq is newer', a: { floorSeq: null }, p: { seq: 1 }, want: 'newer' },
  { name: 'a manifest naming this node is applied', p: { targets: ['web-1', 'web-2'] }, want: 'newer' },
  { name: 'the floor itself again is a no-op', p: { seq: 4 }, want: 'same' },
  { name: 'below the floor is a rollback attack', p: { seq: 3 }, want: 'E_ROLLBACK' },
  { name: 'a track this node does not run', p: { track: 'production' }, want: 'E_WRONG_TRACK' },
  { name: 'targeted at other nodes', p: { targets: ['web-2'] }, want: 'E_NOT_TARGETED' },
  { name: 'another fleet', p: { fleet: 'other' }, want: 'E_WRONG_FLEET' },
  { name: 'expired', p: { expires_at: iso(NOW - 1) }, want: 'E_EXPIRED' },
  { name: 'created a year ahead', p: { created_at: iso(NOW + 365 * 86_400_000), expires_at: iso(NOW + 366 * 86_400_000) }, want: 'E_NOT_YET_VALID' },
  { name: 'valid until 9999', p: { expires_at: '9999-12-31T23:59:59.999Z' }, want: 'E_MANIFEST_TTL' },
  { name: 'marked bad on this node', a: { badMark: { version: 'v5', commit: 'c'.repeat(40), reason: 'probation failed' } }, want: 'E_BAD_VERSION' },
  { name: 'a bad mark does not refuse the floor re-delivered', p: { seq: 4 }, a: { badMark: { version: 'v5', commit: 'c'.repeat(40), reason: 'x' } }, want: 'same' },
  { name: 'a version that is no safe directory name', p: { version: '../../etc' }, want: 'E_BAD_VERSION' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const run = () => acceptForApply(payload(c.p), { ...base, ...c.a });
    if (c.want === 'newer' || c.want === 'same') t.equal(run(), c.want);
    else t.throws(run, { code: c.want });
  });
}

t.test('holding takes any track it holds and any targets, and leaves the seq to the held set', async (t) => {
  const hold = (p: Partial<ManifestPayload>) => acceptForHolding(payload(p), { now: NOW, limits: DEFAULT_MANIFEST_LIMITS, fleet: 'edge', tracks: ['testnet', 'production'] });
  t.doesNotThrow(() => hold({ track: 'production', targets: ['web-9'], seq: 1 }), 'relayed, targeted elsewhere, low seq');
  t.throws(() => hold({ track: 'staging' }), { code: 'E_WRONG_TRACK' });
  t.throws(() => hold({ fleet: 'other' }), { code: 'E_WRONG_FLEET' });
  t.throws(() => hold({ expires_at: iso(NOW - 1) }), { code: 'E_EXPIRED' });
});
