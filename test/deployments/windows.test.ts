// Maintenance windows (issue 12): parsing with coded errors, the clock arithmetic, and a
// node's gossip source holding a release back outside its window (virtual clock), saying so
// for the heartbeat, applying it when the window opens, and an urgent release at once.
import t from 'tap';
import { join } from 'node:path';
import { Store } from '../../src/adapters/sqlite/store.js';
import { validateConfig } from '../../src/core/config.js';
import { MANIFEST_SCHEMA_V2, type ManifestPayload } from '../../src/core/manifest.js';
import { inWindow, nextOpening, parseWindow } from '../../src/core/windows.js';
import type { ApplyEngine, ApplyOutcome } from '../../src/node/apply/engine.js';
import { StoreManifestSource } from '../../src/node/agent/manifest-source.js';
import { toHex } from '../../src/trust/bytes.js';
import { serializeEnvelope } from '../../src/trust/envelope.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { signManifest, type VerifiedManifest } from '../../src/trust/verify-manifest.js';
import { tempDir } from '../helpers/tmp.js';

// Saturday 2026-11-28 01:00 UTC
const SAT_0100 = Date.parse('2026-11-28T01:00:00.000Z');
const H = 3_600_000;

t.test('windows parse, or fail with E_WINDOW', async (t) => {
  t.match(parseWindow('Sat 02:00-04:00 UTC'), { days: [6], start: 120, length: 120 });
  t.match(parseWindow('mon, wed 22:00-01:00 UTC'), { days: [1, 3], start: 1320, length: 180 }, 'past midnight');
  t.match(parseWindow('daily 03:00-03:30 UTC'), { days: [0, 1, 2, 3, 4, 5, 6], length: 30 });
  for (const bad of ['Sat 02:00-04:00', 'Sat 02:00-04:00 CET', 'Caturday 02:00-04:00 UTC', 'Sat 25:00-26:00 UTC', 'Sat 02:00-02:00 UTC', 'whenever', 'Sat 2:00-4:00 UTC']) {
    t.throws(() => parseWindow(bad), { code: 'E_WINDOW' }, bad);
  }
  const raw = { fleet: 'f', node: { id: 'n', windows: ['Sat 02:00-04:00 UTC', 'nope'] }, trust: { keys: [{ public: 'a'.repeat(64) }] } };
  t.throws(() => validateConfig(raw), { code: 'E_CONFIG', message: /node\.windows\.1: maintenance window "nope" does not parse/ });
});

t.test('inside, outside, and the next opening', async (t) => {
  const sat = [parseWindow('Sat 02:00-04:00 UTC')];
  t.notOk(inWindow(sat, SAT_0100));
  t.ok(inWindow(sat, SAT_0100 + H));
  t.notOk(inWindow(sat, SAT_0100 + 3 * H), 'the end is outside');
  t.equal(nextOpening(sat, SAT_0100), SAT_0100 + H);
  t.equal(nextOpening(sat, SAT_0100 + 4 * H), SAT_0100 + H + 7 * 24 * H, 'just after: next week');
  const night = [parseWindow('Fri 23:00-02:00 UTC')];
  t.ok(inWindow(night, SAT_0100), 'a Friday window runs into Saturday');
  t.ok(inWindow([], SAT_0100), 'no windows: always');
});

const authority = signerFromSeed(new Uint8Array(32).fill(7));
const keyset = loadKeyset({ keys: [{ public: toHex(authority.publicKey) }] });
const iso = (ms: number) => new Date(ms).toISOString();
const rollout = (urgent: boolean) => ({
  key: 'testnet', deployment: 'dep-1', number: 1, strategy: 'rolling' as const, phase: 'wave' as const, wave: 1, canaries: [],
  healthy_deadline: 60_000, min_healthy: 1000, urgent,
});
const manifest = (seq: number, urgent: boolean): string => {
  const p: ManifestPayload = {
    schema: MANIFEST_SCHEMA_V2, fleet: 'edge', track: 'testnet', seq, version: `v${seq}`, commit: String(seq).repeat(40).slice(0, 40),
    code_hash: 'b'.repeat(64), created_at: iso(SAT_0100 - 1000), expires_at: iso(SAT_0100 + 30 * 24 * H), kind: 'release', targets: ['node-1'],
    evidence: { run_id: 'r', test: null, benchmark: null, notes: [] }, rollout: rollout(urgent),
  };
  return serializeEnvelope(signManifest(p, [authority]));
};

async function setup(t: Tap.Test) {
  let now = SAT_0100;
  const applied: number[] = [];
  const engine = { async applyManifest(m: VerifiedManifest): Promise<ApplyOutcome> { applied.push(m.payload.seq); return { apply: null, reason: 'ok' }; } };
  const store = Store.open(join(tempDir(t), 'upshift.db'), () => now);
  t.teardown(() => store.close());
  const source = await StoreManifestSource.open({
    store, keyset, node: { id: 'node-1', fleet: 'edge', tracks: ['testnet'] }, clock: { now: () => now },
    engine: engine as unknown as ApplyEngine, windows: [parseWindow('Sat 02:00-04:00 UTC')],
  });
  return { source, store, applied, advance: (ms: number) => void (now += ms) };
}

t.test('outside its window a node waits and says so; it switches when the window opens', async (t) => {
  const s = await setup(t);
  t.equal(await s.source.offer(manifest(1, false)), 'accepted', 'held and forwarded at once');
  await s.source.idle();
  t.same(s.applied, [], 'not applied outside the window');
  t.match(s.source.waiting('testnet'), /waiting for maintenance window Sat 02:00-04:00 UTC \(opens 2026-11-28T02:00:00.000Z\)/);
  s.advance(30 * 60_000);
  await s.source.refresh();
  await s.source.idle();
  t.same(s.applied, [], 'still closed at 01:30');
  s.advance(31 * 60_000);
  await s.source.refresh();
  await s.source.idle();
  t.same(s.applied, [1], 'applied once the window opened');
  t.equal(s.source.waiting('testnet'), null, 'no longer waiting');
});

t.test('an urgent release switches outside the window, and that is recorded', async (t) => {
  const s = await setup(t);
  await s.source.offer(manifest(1, true));
  await s.source.idle();
  t.same(s.applied, [1]);
  const events = s.store.db.prepare("SELECT data FROM events WHERE kind = 'apply.urgent'").pluck().all() as string[];
  t.equal(events.length, 1, 'recorded as urgent');
  t.match(JSON.parse(events[0] as string), { track: 'testnet', seq: 1, windows: ['Sat 02:00-04:00 UTC'] });
});

t.test("a canary marks itself in its heartbeat while the manifest it runs names it one", async (t) => {
  const { canaryRoles } = await import('../../src/node/agent/agent.js');
  const { heartbeatSchema } = await import('../../src/gossip/types.js');
  const payload = (targets: 'all' | string[], canaries: string[], version = 'v2'): ManifestPayload => ({
    schema: MANIFEST_SCHEMA_V2, fleet: 'edge', track: 'testnet', seq: 2, version, commit: 'c'.repeat(40), code_hash: 'b'.repeat(64),
    created_at: iso(SAT_0100), expires_at: iso(SAT_0100 + H), kind: 'release', targets, evidence: { run_id: 'r', test: null, benchmark: null, notes: [] },
    rollout: { ...rollout(false), phase: 'canary', canaries },
  });
  t.same(canaryRoles('n1', { testnet: 'v2' }, () => [payload(['n1'], ['n1'])]), { testnet: 'canary' });
  t.same(canaryRoles('n2', { testnet: 'v1' }, () => [payload(['n1'], ['n1'])]), {}, 'not targeted: no mark');
  t.same(canaryRoles('n1', { testnet: 'v1' }, () => [payload(['n1'], ['n1'])]), {}, 'not running it yet: no mark');
  t.same(canaryRoles('n1', { testnet: 'v2' }, () => [{ ...payload('all', []), rollout: { ...rollout(false), phase: 'complete' as const } }]), {}, 'completed: the mark ends');
  const hb = { node: 'n1', versions: { testnet: 'v2' }, code_hash: { testnet: null }, health: 'ok', error_rate: null, apply_state: 'idle', labels: {}, roles: { testnet: 'canary' } };
  t.ok(heartbeatSchema.safeParse(hb).success, 'the heartbeat carries it');
  t.notOk(heartbeatSchema.safeParse({ ...hb, roles: { testnet: 'boss' } }).success, 'and nothing else');
});
