import t from 'tap';
import { join } from 'node:path';
import { Store } from '../../src/adapters/sqlite/store.js';
import { validateConfig, type Config } from '../../src/core/config.js';
import type { NodeState } from '../../src/core/node-state.js';
import { StoreManifestSource } from '../../src/node/agent/manifest-source.js';
import { HeartbeatPacer } from '../../src/runtime/heartbeat-pacer.js';
import { fleetView } from '../../src/runtime/fleet-view.js';
import { silentAfterHeld } from '../../src/node/agent/held-settings.js';
import { toHex } from '../../src/trust/bytes.js';
import { FLEET_SETTINGS_KEY, signFleetSettings } from '../../src/trust/fleet-settings.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { tempDir } from '../helpers/tmp.js';

const release = signerFromSeed(new Uint8Array(32).fill(1));
const stranger = signerFromSeed(new Uint8Array(32).fill(9));
const trust = { keys: [{ public: toHex(release.publicKey) }] };
const keyset = loadKeyset(trust);
const T0 = Date.parse('2026-11-30T00:00:00Z');

const state = (node: string, heardAt: number): NodeState => ({
  node, heardAt, labels: {}, health: 'ok', errorRate: 0, smoke: null, tracks: { testnet: { version: 'v1', seq: 1, apply: 'confirmed', reason: null, codeHash: null } },
});

async function sourceFor(t: Tap.Test, id: string, clock: { now(): number }) {
  const store = Store.open(join(tempDir(t), 'upshift.db'), () => clock.now());
  t.teardown(() => store.close());
  const source = await StoreManifestSource.open({ store, keyset, node: { id, fleet: 'edge', tracks: ['testnet'] }, clock, engine: null });
  return { store, source };
}

t.test('the authority signs a longer interval as its fleet grows, and a node takes it up from the digest', async (t) => {
  const clock = { ms: T0, now: () => clock.ms };
  const base = validateConfig({ fleet: 'edge', state_dir: tempDir(t), node: { id: 'authority' }, trust });
  // a budget of 2 heartbeats a second, base 5 s: 10 nodes fit, 30 do not
  const config = { ...base, authority: { heartbeat: { base: 5000, max_per_second: 2 } } } as unknown as Config;
  const auth = await sourceFor(t, 'authority', clock);
  const pacer = new HeartbeatPacer({ config, store: auth.store, source: auth.source, signers: async () => [release], clock });

  await auth.store.fleet.record(Array.from({ length: 10 }, (_, i) => state(`n${i}`, T0)));
  const first = await pacer.tick();
  t.same(first?.heartbeat, { base_ms: 5000, interval_ms: 5000, pinned: [] }, '10 nodes: the base interval');
  t.ok(auth.source.digest()[FLEET_SETTINGS_KEY], 'served in the authority\'s digest');
  t.equal((await pacer.tick())?.seq, first?.seq, 'nothing changed: nothing re-signed');

  clock.ms += 1000;
  await auth.store.fleet.record(Array.from({ length: 30 }, (_, i) => state(`n${i}`, clock.ms)));
  const grown = await pacer.tick();
  t.equal(grown?.heartbeat.interval_ms, 15_000, '30 nodes at 2/s: 15 s');
  t.ok((grown?.seq ?? 0) > (first?.seq ?? 0), 'a newer seq');

  // a node pulls what the digest names, and holds it
  const node = await sourceFor(t, 'n1', clock);
  const entry = auth.source.digest()[FLEET_SETTINGS_KEY]!;
  t.ok(node.source.wants(FLEET_SETTINGS_KEY, entry.seq, entry.hash), 'the node wants the newer settings');
  t.equal(await node.source.offer(auth.source.get(FLEET_SETTINGS_KEY) as string), 'accepted');
  t.equal(node.source.settings()?.heartbeat.interval_ms, 15_000);
  t.notOk(node.source.wants(FLEET_SETTINGS_KEY, entry.seq, entry.hash), 'and no longer wants it');

  // a restarted node keeps what it verified
  const again = await StoreManifestSource.open({ store: node.store, keyset, node: { id: 'n1', fleet: 'edge', tracks: ['testnet'] }, clock, engine: null });
  t.equal(again.settings()?.seq, grown?.seq, 'kept across a restart');
});

t.test('a node never applies settings that are unsigned, signed by another key, older, or for another fleet', async (t) => {
  const clock = { ms: T0, now: () => clock.ms };
  const { source } = await sourceFor(t, 'n1', clock);
  const settings = (seq: number, interval: number, fleet = 'edge') => ({
    fleet, seq, issued_at: new Date(T0).toISOString(), heartbeat: { base_ms: 5000, interval_ms: interval, pinned: [] },
  });
  t.equal(await source.offer(signFleetSettings(settings(10, 60_000), [stranger])), 'refused', 'a stranger\'s key');
  t.equal(await source.offer(signFleetSettings(settings(10, 60_000, 'other'), [release])), 'refused', 'another fleet');
  const unsigned = JSON.stringify({ payloadType: 'application/vnd.upshift.fleet-settings+json', payload: Buffer.from('{}').toString('base64'), signatures: [] });
  t.equal(await source.offer(unsigned), 'refused', 'no signature');
  t.equal(source.settings(), null, 'none of them held');
  t.equal(await source.offer(signFleetSettings(settings(10, 20_000), [release])), 'accepted');
  t.equal(await source.offer(signFleetSettings(settings(9, 300_000), [release])), 'refused', 'an older seq');
  t.equal(source.settings()?.heartbeat.interval_ms, 20_000);
});

t.test('a node told a long interval is not silent between two heartbeats, in fleet ls and in deployments', async (t) => {
  const clock = { ms: T0, now: () => clock.ms };
  const config = validateConfig({ fleet: 'edge', state_dir: tempDir(t), node: { id: 'authority' }, trust });
  const { store, source } = await sourceFor(t, 'authority', clock);
  await store.fleet.record([state('far', T0)]);
  clock.ms += 60_000; // a minute unheard: past dead_after (30 s)
  t.ok((await fleetView(config, store, clock.ms)).nodes[0]?.silent, 'silent under the configured bound');
  t.equal(await silentAfterHeld(config, store, 30_000), 30_000);
  const settings = signFleetSettings({
    fleet: 'edge', seq: T0, issued_at: new Date(T0).toISOString(), heartbeat: { base_ms: 5000, interval_ms: 50_000, pinned: [] },
  }, [release]);
  t.equal(await source.offer(settings), 'accepted');
  t.equal(await silentAfterHeld(config, store, 30_000), 150_000, 'three told intervals');
  t.notOk((await fleetView(config, store, clock.ms)).nodes[0]?.silent, 'not silent with a 50 s interval');
  await store.kv.set('gossip.fleet-settings', signFleetSettings({
    fleet: 'edge', seq: T0 + 1, issued_at: new Date(T0).toISOString(), heartbeat: { base_ms: 5000, interval_ms: 900_000, pinned: [] },
  }, [stranger]));
  t.equal(await silentAfterHeld(config, store, 30_000), 30_000, 'a value that does not verify is never used');
});

t.test('canaries of a run in CANARY and a control sample as large are pinned at the base interval', async (t) => {
  const clock = { ms: T0, now: () => clock.ms };
  const base = validateConfig({ fleet: 'edge', state_dir: tempDir(t), node: { id: 'authority' }, trust });
  const config = { ...base, authority: { heartbeat: { base: 5000, max_per_second: 2 } } } as unknown as Config;
  const { store, source } = await sourceFor(t, 'authority', clock);
  await store.fleet.record(Array.from({ length: 30 }, (_, i) => state(`n${i}`, T0)));
  await store.createRun({ id: 'r1', track: 'testnet', version: 'v2', ref: 'main', commit: 'c'.repeat(40), retryOf: null, createdAt: T0 });
  await store.saveSnapshot({ runId: 'r1', machineVersion: 1, state: 'canary', status: 'running', snapshot: {}, reason: null, code: null, at: T0 });
  await store.plans.fixCanaryPlan('r1', { canaries: ['n3', 'n7'], selection: 'test', selectedAt: T0, confirmBy: T0 + 600_000 }, T0);
  const pacer = new HeartbeatPacer({ config, store, source, signers: async () => [release], clock });
  const held = await pacer.tick();
  const pinned = held?.heartbeat.pinned ?? [];
  t.equal(pinned.length, 4, 'two canaries and two control nodes');
  t.ok(pinned.includes('n3') && pinned.includes('n7'), 'the canaries');
  // 4 pinned at 5 s take 0.8/s; 26 share the other 1.2/s: 22 s
  t.equal(held?.heartbeat.interval_ms, 22_000);
  t.same((await pacer.tick())?.heartbeat.pinned, pinned, 'the same control sample on the next look (chosen by the run id)');
});
