// The fleet as the authority's pipeline sees it through gossip: heartbeats the node agent
// saved in a real store, certificates in the store's identity tables, and publishing into
// a real manifest source over the same store. Time is a clock the test sets.
import t from 'tap';
import { join } from 'node:path';
import { Store } from '../../src/adapters/sqlite/store.js';
import { validateConfig } from '../../src/core/config.js';
import { UpshiftError } from '../../src/core/errors.js';
import type { ManifestPayload } from '../../src/core/manifest.js';
import type { Heartbeat } from '../../src/gossip/types.js';
import { MANIFEST_KEY_PREFIX, StoreManifestSource } from '../../src/node/agent/manifest-source.js';
import { applyStateOf, toNodeState } from '../../src/node/agent/reports.js';
import { judgeConvergence } from '../../src/core/decisions/convergence.js';
import { fleetView } from '../../src/runtime/fleet-view.js';
import { gossipFleet } from '../../src/runtime/gossip-fleet.js';
import { toHex } from '../../src/trust/bytes.js';
import { serializeEnvelope } from '../../src/trust/envelope.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { signManifest } from '../../src/trust/verify-manifest.js';
import { tempDir } from '../helpers/tmp.js';

const authorityKey = signerFromSeed(new Uint8Array(32).fill(1));
const trust = { keys: [{ public: toHex(authorityKey.publicKey) }] };
const keyset = loadKeyset(trust);
const T0 = Date.parse('2026-11-22T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const SELF = 'authority';
const TIMEOUT_MS = 20_000;

/** An authority node's config, with canary.heartbeat_timeout at 20 s. */
function authorityConfig(stateDir: string) {
  return validateConfig({
    fleet: 'edge',
    state_dir: stateDir,
    node: { id: SELF, tracks: ['testnet', 'production'] },
    trust,
    authority: {
      source: '/srv/app.git',
      signing_keys: ['keys/authority.key'],
      build: { command: 'true' },
      test: { command: 'true' },
      canary: { heartbeat_timeout: '20s' },
    },
  });
}

async function setup(t: Tap.Test) {
  const dir = tempDir(t, 'upshift-fleet-');
  let now = T0;
  const clock = { now: () => now };
  const store = Store.open(join(dir, 'upshift.db'), () => now);
  t.teardown(() => store.close());
  const config = authorityConfig(dir);
  const source = await StoreManifestSource.open({ store, keyset, clock, engine: null, node: { id: SELF, fleet: config.fleet, tracks: config.node.tracks } });
  let pushes = 0;
  const fleet = gossipFleet(config, store, clock, source, () => void pushes++);
  return { store, clock, config, source, fleet, pushes: () => pushes, advance: (ms: number) => void (now += ms) };
}

type Runs = Record<string, { version: string | null; seq: number; state: string; reason?: string }>;

/**
 * Save a heartbeat the way the node agent does: the latest per node, received at `at`, in the
 * fleet read model. `runs` fills versions, code_hash, apply_state and apply_reason for each track.
 */
async function heard(store: Store, at: number, node: string, hb: Partial<Heartbeat> & { runs?: Runs } = {}): Promise<void> {
  const { runs = {}, ...rest } = hb;
  const reasons = Object.fromEntries(Object.entries(runs).flatMap(([track, r]) => (r.reason ? [[track, r.reason]] : [])));
  const heartbeat: Heartbeat = {
    node,
    versions: Object.fromEntries(Object.entries(runs).map(([track, r]) => [track, r.version])),
    code_hash: Object.fromEntries(Object.entries(runs).map(([track, r]) => [track, r.version === null ? null : `hash-of-${r.version}`])),
    health: 'ok',
    error_rate: 0,
    apply_state: applyStateOf(runs),
    ...(Object.keys(reasons).length > 0 ? { apply_reason: reasons } : {}),
    labels: { region: `r-${node}` },
    ...rest,
  };
  await store.fleet.record([toNodeState(heartbeat, at)]);
}

/** A certificate record; the certificate text itself is not read by the fleet view. */
async function certify(store: Store, node: string, serial: number): Promise<void> {
  await store.identity.addCert({
    serial, nodeId: node, publicKey: 'c'.repeat(64), labels: { region: `r-${node}` }, cert: `{"cert":"${node}#${serial}"}`,
    issuedAt: T0 - 60_000, expiresAt: T0 + 86_400_000, tokenHash: null,
  });
}

const testnet = (version: string | null, seq: number, state = 'confirmed', reason?: string): Runs => ({ testnet: { version, seq, state, ...(reason ? { reason } : {}) } });

t.test('canary candidates are the peers that run the track, never the authority itself', async (t) => {
  const f = await setup(t);
  await heard(f.store, T0, SELF, { runs: testnet('v1.0.0', 3) });
  await heard(f.store, T0, 'node-a', { runs: testnet('v1.0.0', 3) });
  await heard(f.store, T0, 'node-b'); // no app: empty versions, apply_state idle
  await heard(f.store, T0, 'node-c', { runs: { production: { version: 'v0.9.0', seq: 1, state: 'confirmed' } } });
  await heard(f.store, T0, 'node-d', { versions: { testnet: null }, code_hash: { testnet: null } }); // follows testnet, nothing applied yet
  const testnetIds = (await f.fleet.canaryCandidates('testnet')).map((n) => n.id);
  t.same(testnetIds, ['node-a', 'node-d'], 'peers with a testnet slot, applied or not');
  t.same((await f.fleet.canaryCandidates('production')).map((n) => n.id), ['node-c'], 'only the production node');
  t.same(await f.fleet.canaryCandidates('staging'), [], 'nobody runs a track no heartbeat names');
  t.same((await f.fleet.canaryCandidates('testnet'))[0]?.labels, {}, 'no certificate, no labels: a heartbeat does not place canaries');
});

t.test('a node cannot choose its canary placement: labels come from the certificate, not from its heartbeat', async (t) => {
  const f = await setup(t);
  await certify(f.store, 'node-a', 1); // certified in region r-node-a
  await heard(f.store, T0, 'node-a', { runs: testnet('v1', 1), labels: { region: 'eu', canary: 'please' } });
  await heard(f.store, T0, 'node-b', { runs: testnet('v1', 1), labels: { region: 'eu' } });
  t.same((await f.fleet.canaryCandidates('testnet')).map((n) => [n.id, n.labels]), [['node-a', { region: 'r-node-a' }], ['node-b', {}]]);
  t.same((await fleetView(f.config, f.store, T0)).nodes.map((n) => [n.node, n.labels]), [['node-a', { region: 'r-node-a' }], ['node-b', { region: 'eu' }]],
    'fleet ls shows the certified labels where the certificate is known');
});

t.test('a candidate is healthy only when its health is ok and it was heard within heartbeat_timeout', async (t) => {
  const f = await setup(t);
  f.advance(60_000);
  const now = f.clock.now();
  await heard(f.store, now, 'node-ok', { runs: testnet('v1', 1) });
  await heard(f.store, now, 'node-failing', { runs: testnet('v1', 1), health: 'failing' });
  await heard(f.store, now, 'node-unknown', { runs: testnet('v1', 1), health: 'unknown' });
  await heard(f.store, now - TIMEOUT_MS, 'node-just-in-time', { runs: testnet('v1', 1) });
  await heard(f.store, now - TIMEOUT_MS - 1, 'node-stale', { runs: testnet('v1', 1) });
  const healthy = Object.fromEntries((await f.fleet.canaryCandidates('testnet')).map((n) => [n.id, n.healthy]));
  t.same(healthy, { 'node-failing': false, 'node-just-in-time': true, 'node-ok': true, 'node-stale': false, 'node-unknown': false }, 'ok and heard within 20 s, the bound included');
  f.advance(1);
  const after = await f.fleet.canaryCandidates('testnet');
  t.equal(after.find((n) => n.id === 'node-just-in-time')?.healthy, false, 'one millisecond later it is silent too');
  t.equal(after.length, 5, 'an unhealthy node is still listed, as unhealthy');
});

t.test('verified means this authority issued the node a certificate', async (t) => {
  const f = await setup(t);
  await certify(f.store, 'node-a', 1);
  await heard(f.store, T0, 'node-a', { runs: testnet('v1', 1) });
  await heard(f.store, T0, 'node-b', { runs: testnet('v1', 1) });
  t.same(await f.fleet.canaryCandidates('testnet'), [
    { id: 'node-a', labels: { region: 'r-node-a' }, verified: true, healthy: true },
    { id: 'node-b', labels: {}, verified: false, healthy: true },
  ], 'node-b is healthy but holds no certificate');
  f.advance(86_400_000);
  await heard(f.store, f.clock.now(), 'node-a', { runs: testnet('v1', 1) });
  t.equal((await f.fleet.canaryCandidates('testnet')).find((n) => n.id === 'node-a')?.verified, false, 'nor does a node whose certificate expired');
});

t.test('reports leave out nodes whose latest certificate is revoked', async (t) => {
  const f = await setup(t);
  await heard(f.store, T0, SELF);
  for (const [node, serial] of [['node-a', 1], ['node-b', 2], ['node-c', 3]] as const) {
    await certify(f.store, node, serial);
    await heard(f.store, T0, node, { runs: testnet('v1', 1) });
  }
  const ids = async () => (await f.fleet.nodes()).map((r) => r.node);
  t.same(await ids(), [SELF, 'node-a', 'node-b', 'node-c'], "the authority's own heartbeat is a report too");
  await f.store.identity.revoke('node-a', 1, 'decommissioned', T0);
  await f.store.identity.revoke('node-b', 2, 'key rotated', T0);
  await certify(f.store, 'node-b', 4); // node-b was issued a new certificate after the revocation
  t.same(await ids(), [SELF, 'node-b', 'node-c'], 'node-a is out; node-b is back under its new certificate');
  t.same((await f.fleet.canaryCandidates('testnet')).map((n) => n.id), ['node-b', 'node-c'], 'a revoked node is no candidate');
  const judged = judgeConvergence(await f.fleet.nodes(), 'testnet', 1, { now: T0, silentAfterMs: TIMEOUT_MS });
  t.same(judged.nodes.map((n) => n.node), ['node-b', 'node-c'], 'nor part of convergence');
  const state = (await f.fleet.nodes()).find((r) => r.node === 'node-c');
  t.same(state, {
    node: 'node-c', heardAt: T0, health: 'ok', errorRate: 0, labels: { region: 'r-node-c' }, smoke: null,
    tracks: { testnet: { seq: 1, version: 'v1', codeHash: 'hash-of-v1', apply: 'confirmed', reason: null } },
  }, 'a node state is the heartbeat as received');
});

t.test('convergence over the read model says per node what it runs, who went silent and why a node is not confirmed', async (t) => {
  const f = await setup(t);
  f.advance(120_000);
  const now = f.clock.now();
  await heard(f.store, now, SELF, { runs: testnet('v1.1.0', 5) });
  await heard(f.store, now - 1000, 'node-a', { runs: testnet('v1.1.0', 5) });
  await heard(f.store, now, 'node-b', { runs: testnet('v1.0.0', 5, 'rolled_back', 'health failed 3000 ms into the min_healthy window: HTTP 500') });
  await heard(f.store, now, 'node-c', { runs: testnet('v1.0.0', 4, 'probation') });
  await heard(f.store, now - 95_000, 'node-d', { runs: testnet('v1.0.0', 4) });
  await heard(f.store, now, 'node-e', { runs: testnet('v1.1.0', 5, 'confirmed', 'confirmed after a retry') });
  await heard(f.store, now, 'node-f'); // no app
  await heard(f.store, now, 'node-g', { versions: { testnet: null }, code_hash: { testnet: null } });
  const judge = async (track: string) => {
    const c = judgeConvergence(await f.fleet.nodes(), track, 5, { now, silentAfterMs: TIMEOUT_MS });
    return [...c.nodes, ...c.silent.map((x) => ({ node: x.node, state: 'silent', note: x.why }))].sort((a, b) => a.node.localeCompare(b.node));
  };
  t.same(await judge('testnet'), [
    { node: SELF, seq: 5, version: 'v1.1.0', state: 'confirmed' },
    { node: 'node-a', seq: 5, version: 'v1.1.0', state: 'confirmed' },
    { node: 'node-b', seq: 5, version: 'v1.0.0', state: 'rolled_back', note: 'health failed 3000 ms into the min_healthy window: HTTP 500' },
    { node: 'node-c', seq: 4, version: 'v1.0.0', state: 'probation' },
    { node: 'node-d', state: 'silent', note: 'no heartbeat for 95 s (last state confirmed)' },
    { node: 'node-e', seq: 5, version: 'v1.1.0', state: 'confirmed' },
    { node: 'node-g', seq: null, version: null, state: 'idle' },
  ], 'node-f runs no app and is not listed; a confirmed node carries no note');
  t.notOk((await judge('testnet')).find((n) => n.node === 'node-e')?.note, 'a confirmed node carries no note');
  t.same(await judge('production'), [], 'nobody runs production');
});

const manifest = (p: Partial<ManifestPayload> = {}): ManifestPayload => ({
  schema: 'upshift.manifest/v1', fleet: 'edge', track: 'testnet', seq: 1, version: 'v1.0.0',
  commit: 'a'.repeat(40), code_hash: 'b'.repeat(64), created_at: iso(T0 - 1000), expires_at: iso(T0 + 3_600_000),
  kind: 'release', targets: 'all', evidence: { run_id: 'run-1', test: null, benchmark: null, notes: [] },
  ...p,
});
const sign = (p: Partial<ManifestPayload> = {}) => serializeEnvelope(signManifest(manifest(p), [authorityKey]));

/** The same envelope with one byte of its payload changed after signing. */
function tamper(envelope: string): string {
  const env = JSON.parse(envelope) as { payload: string };
  const bytes = Buffer.from(env.payload, 'base64');
  const at = bytes.indexOf('"v1.0.0"');
  if (at < 0) throw new Error('the payload names no v1.0.0 to tamper with');
  bytes[at + 2] = '9'.charCodeAt(0); // "v1.0.0" becomes "v9.0.0"
  return JSON.stringify({ ...env, payload: bytes.toString('base64') });
}

/** What a publish was refused with (an UpshiftError, or whatever else was thrown); null when it was not refused. */
async function refusal(p: Promise<unknown>): Promise<{ upshift: boolean; code: unknown } | null> {
  try {
    await p;
    return null;
  } catch (err) {
    return { upshift: err instanceof UpshiftError, code: (err as { code?: unknown }).code };
  }
}

t.test('publish hands a verified manifest to gossip and pushes it at once', async (t) => {
  const f = await setup(t);
  const one = sign();
  t.same(await f.fleet.publish(one), { held: 'accepted' }, 'held by this node for gossip');
  t.equal(f.pushes(), 1, 'pushed once');
  t.equal(await f.store.kv.get(`${MANIFEST_KEY_PREFIX}testnet`), one, 'persisted for the daemon and for restarts');
  t.equal(f.source.digest().testnet?.seq, 1, 'advertised in the digest');
  t.same(await f.fleet.publish(one), { held: 'same' }, 'the same bytes again');
  t.equal(await f.store.kv.get(`${MANIFEST_KEY_PREFIX}testnet`), one, 'and the stored one is unchanged');
});

t.test('publish refuses a manifest that does not verify, is for another fleet or is older, and stores nothing', async (t) => {
  const f = await setup(t);
  const one = sign();
  await f.fleet.publish(one);
  const pushes = f.pushes();
  const digest = f.source.digest();

  const tampered = tamper(sign({ seq: 2 }));
  t.same(await refusal(f.fleet.publish(tampered)), { upshift: true, code: 'E_SIG_INVALID' }, 'one byte changed after signing');
  const otherFleet = sign({ seq: 2, fleet: 'core' });
  t.same(await refusal(f.fleet.publish(otherFleet)), { upshift: true, code: 'E_WRONG_FLEET' }, 'signed by our key, for another fleet');
  t.equal(await f.store.kv.get(`${MANIFEST_KEY_PREFIX}testnet`), one, 'the held manifest is still the first');
  t.equal(f.source.digest(), digest, 'the digest is untouched');
  t.equal(f.pushes(), pushes, 'a refusal pushes nothing');

  const second = sign({ seq: 2, version: 'v1.0.1' });
  t.same(await f.fleet.publish(second), { held: 'accepted' }, 'a good seq 2 after the refusals');
  t.same(await refusal(f.fleet.publish(one)), { upshift: true, code: 'E_ROLLBACK' }, 'seq 1 after seq 2');
  t.equal(await f.store.kv.get(`${MANIFEST_KEY_PREFIX}testnet`), second, 'seq 2 stays held');
  t.equal(f.source.digest().testnet?.seq, 2, 'and is what gossip advertises');
});

t.test('a pipeline run from the CLI publishes through the store, and the running daemon takes it up', async (t) => {
  const f = await setup(t);
  // the daemon's source over the same store, and the CLI's fleet without a pushNow
  const daemon = await StoreManifestSource.open({ store: f.store, keyset, clock: f.clock, engine: null, node: { id: SELF, fleet: 'edge', tracks: ['testnet', 'production'] } });
  const cli = gossipFleet(f.config, f.store, f.clock, f.source);
  const one = sign();
  t.same(await cli.publish(one), { held: 'accepted' });
  t.same(daemon.digest(), {}, 'the daemon has not looked yet');
  await daemon.refresh();
  t.equal(daemon.get('testnet'), one, 'its next round finds the manifest in the store');
});

t.test('the fleet says when this process began hearing heartbeats, for canary judging', async (t) => {
  const f = await setup(t);
  t.equal(f.fleet.hearingSince, undefined, 'a pipeline driven from the CLI has no such bound');
  t.equal(gossipFleet(f.config, f.store, f.clock, f.source, undefined, T0 + 1_000).hearingSince, T0 + 1_000);
});
