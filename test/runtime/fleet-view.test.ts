// `fleet ls|health` from a real store: heartbeats as the agent saves them, the manifest this
// node holds for gossip, certificates and revocations; the clock is a number the test picks.
import t from 'tap';
import { join } from 'node:path';
import { Store } from '../../src/adapters/sqlite/store.js';
import { validateConfig } from '../../src/core/config.js';
import type { Heartbeat } from '../../src/gossip/types.js';
import { StoreManifestSource } from '../../src/node/agent/manifest-source.js';
import { toNodeState } from '../../src/node/agent/reports.js';
import { fleetProblems, fleetView } from '../../src/runtime/fleet-view.js';
import { toHex } from '../../src/trust/bytes.js';
import { serializeEnvelope } from '../../src/trust/envelope.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { signManifest } from '../../src/trust/verify-manifest.js';
import { tempDir } from '../helpers/tmp.js';

const key = signerFromSeed(new Uint8Array(32).fill(3));
const trust = { keys: [{ public: toHex(key.publicKey) }] };
const NOW = Date.parse('2026-11-22T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

const dir = tempDir(t, 'upshift-view-');
const store = Store.open(join(dir, 'upshift.db'), () => NOW);
t.teardown(() => store.close());
// a plain node (no authority section): silent after gossip.dead_after, 30 s
const config = validateConfig({ fleet: 'edge', state_dir: dir, node: { id: 'web-1', tracks: ['testnet'] }, trust });

// this node holds testnet#7 for gossip
const held = signManifest({
  schema: 'upshift.manifest/v1', fleet: 'edge', track: 'testnet', seq: 7, version: 'v7', commit: 'c'.repeat(40), code_hash: 'd'.repeat(64),
  created_at: iso(NOW - 60_000), expires_at: iso(NOW + 86_400_000), kind: 'release', targets: 'all', evidence: { run_id: 'r-7', test: null, benchmark: null, notes: [] },
}, [key]);
await (await StoreManifestSource.open({ store, keyset: loadKeyset(trust), clock: { now: () => NOW }, engine: null, node: { id: 'web-1', fleet: 'edge', tracks: ['testnet'] } })).accept(serializeEnvelope(held));

/** A heartbeat received `agoMs` ago, kept as the node agent keeps it; the packed apply states are what older nodes send. */
function heard(node: string, agoMs: number, hb: Partial<Heartbeat>): Promise<void> {
  const heartbeat: Heartbeat = { node, versions: {}, code_hash: {}, health: 'ok', error_rate: 0, apply_state: 'idle', labels: { region: 'eu' }, ...hb };
  return store.fleet.record([toNodeState(heartbeat, NOW - agoMs)]);
}

await heard('web-1', 500, { versions: { testnet: 'v7' }, apply_state: 'testnet=confirmed#7' });
await heard('web-2', 1_000, { versions: { testnet: 'v6' }, apply_state: 'testnet=rolled_back#7', apply_reason: { testnet: 'health failed' }, health: 'ok' });
await heard('web-3', 45_000, { versions: { testnet: 'v7' }, apply_state: 'testnet=confirmed#7' });
await heard('web-4', 2_000, { versions: { testnet: 'v7' }, apply_state: 'testnet=confirmed#7', health: 'failing', error_rate: 0.25 });
await heard('relay', 3_000, {});
await heard('gone', 1_000, { versions: { testnet: null }, apply_state: 'idle', health: 'failing' });
await store.identity.addCert({ nodeId: 'gone', serial: 4, publicKey: 'e'.repeat(64), labels: {}, cert: '{}', issuedAt: NOW - 1000, expiresAt: NOW + 1000, tokenHash: null });
await store.identity.revoke('gone', 4, 'decommissioned', NOW - 500);

const view = await fleetView(config, store, NOW);
const node = (id: string) => view.nodes.find((n) => n.node === id);

t.test('fleet ls shows every node heard from, with what it runs and how it was last heard', async (t) => {
  t.same(view.nodes.map((n) => n.node).sort(), ['gone', 'relay', 'web-1', 'web-2', 'web-3', 'web-4']);
  t.same(view.held, { testnet: 7 }, 'the manifest this node holds is the yardstick');
  t.match(node('web-1'), { member: 'self', silent: false, tracks: { testnet: { version: 'v7', seq: 7, state: 'confirmed', behind: false } } });
  t.match(node('web-2'), { tracks: { testnet: { version: 'v6', state: 'rolled_back', reason: 'health failed', behind: true } } });
  t.match(node('web-3'), { silent: true, age_ms: 45_000 });
  t.match(node('web-4'), { health: 'failing', error_rate: 0.25 });
  t.same(node('relay')?.tracks, {}, 'a node without an app runs no track');
  t.match(node('gone'), { revoked: true });
});

t.test('fleet health names each node that is behind, silent or unhealthy, and skips revoked ones', async (t) => {
  const problems = fleetProblems(view);
  t.same(problems.map((p) => p.node).sort(), ['web-2', 'web-3', 'web-4']);
  t.match(problems.find((p) => p.node === 'web-2')?.problem, /testnet behind: at #7 \(rolled_back: health failed\), due #7/);
  t.match(problems.find((p) => p.node === 'web-3')?.problem, /silent for 45 s/);
  t.match(problems.find((p) => p.node === 'web-4')?.problem, /app health failing/);
  t.notOk(problems.some((p) => p.node === 'relay'), 'a node without an app is judged on silence only');
});

t.test('after a stopped canary only the canary is due the rollback; the rest are not behind it', async (t) => {
  const dir2 = tempDir(t, 'upshift-view-canary-');
  const s2 = Store.open(join(dir2, 'upshift.db'), () => NOW);
  t.teardown(() => s2.close());
  const source = await StoreManifestSource.open({ store: s2, keyset: loadKeyset(trust), clock: { now: () => NOW }, engine: null, node: { id: 'web-1', fleet: 'edge', tracks: ['testnet'] } });
  const release = (seq: number, targets: 'all' | string[], kind: 'release' | 'rollback' = 'release') => serializeEnvelope(signManifest({
    schema: 'upshift.manifest/v1', fleet: 'edge', track: 'testnet', seq, version: `v${seq}`, commit: 'c'.repeat(40), code_hash: 'd'.repeat(64),
    created_at: iso(NOW - 60_000), expires_at: iso(NOW + 86_400_000), kind, targets, evidence: { run_id: `r-${seq}`, test: null, benchmark: null, notes: [] },
  }, [key]));
  await source.accept(release(4, 'all'));
  await source.accept(release(6, ['web-2']));
  await source.accept(release(7, ['web-2'], 'rollback'));
  const beat = (node: string, state: string, seq: number) => s2.fleet.record([toNodeState({
    node, versions: { testnet: 'v4' }, code_hash: {}, health: 'ok', error_rate: 0, apply_state: { testnet: { state, seq } }, labels: {},
  }, NOW - 500)]);
  await beat('web-1', 'confirmed', 4);
  await beat('web-2', 'rolled_back', 6);
  await beat('web-3', 'confirmed', 4);
  const v = await fleetView(config, s2, NOW);
  t.same(v.held, { testnet: 7 }, 'the newest manifest held is the rollback to the canary');
  t.match(v.nodes.find((n) => n.node === 'web-1')?.tracks.testnet, { due: 4, behind: false });
  t.match(v.nodes.find((n) => n.node === 'web-3')?.tracks.testnet, { due: 4, behind: false });
  t.match(v.nodes.find((n) => n.node === 'web-2')?.tracks.testnet, { due: 7, behind: true });
  t.same(fleetProblems(v).map((p) => p.problem), ['testnet behind: at #6 (rolled_back), due #7'], 'only the canary, until it confirms the rollback');
  await beat('web-2', 'confirmed', 7);
  t.same(fleetProblems(await fleetView(config, s2, NOW)), [], 'then the fleet is healthy');
});
