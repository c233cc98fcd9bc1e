// The E_SEQ_REGRESSION repair, the whole operator path: a store that lost a published seq
// blocks the next run at SIGN (not failed: it waits), the envelope a node holds is exported,
// `manifest import` verifies and stores it, and the run proceeds one seq above it. Refusals
// (another envelope at that seq, a bad signature, another fleet) change nothing.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HELD_KEY_PREFIX, storedHeld } from '../../src/node/agent/held-store.js';
import { findManifest, importManifest } from '../../src/services/manifests.js';
import type { ServiceContext } from '../../src/services/context.js';
import { parseEnvelope, serializeEnvelope } from '../../src/trust/envelope.js';
import { signManifest, verifyManifest } from '../../src/trust/verify-manifest.js';
import { MANIFEST_SCHEMA, type ManifestPayload } from '../../src/core/manifest.js';
import type { StateStore } from '../../src/core/store-ports.js';
import { testAuthority, type TestAuthority } from '../helpers/authority.js';
import { diag, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

/** A manifest of `track` at `seq`, signed with the authority's own keys: one the fleet would accept. */
async function signedAt(a: TestAuthority, base: ManifestPayload, seq: number, version: string): Promise<string> {
  const signers = await a.service.deps.loadSigners();
  return serializeEnvelope(signManifest({ ...base, seq, version, evidence: { ...base.evidence, run_id: 'lost-run' } }, signers));
}

/** The node's gossip view, as the daemon wires it: the newest manifest held for the track. */
const heldView = (store: StateStore) => async (track: string) => {
  const newest = (await storedHeld(store, track))[0];
  if (!newest) return null;
  const seq = (JSON.parse(Buffer.from(parseEnvelope(newest).payload, 'base64').toString()) as { seq: number }).seq;
  return { seq, envelope: newest };
};

const stateOf = async (store: StateStore) => ({
  manifests: (await store.manifests.list()).map((m) => `${m.track}#${m.seq}`),
  events: (await store.events({ limit: 1000 })).length,
  imported: await store.kv.withPrefix('manifest.imported.'),
});

t.test('blocked at SIGN by a lost published seq, repaired by import, the run goes on one seq above', async (t) => {
  const a = await testAuthority(t);
  const { store, config, keyset } = a.service.deps;
  const ctx: ServiceContext = { config, store, clock: a.service.deps.clock, log: a.service.deps.log, actor: 'cli:operator' };
  const first = (await a.service.startOrFind(await a.service.resolve('main'))).run;
  t.equal((await a.service.orchestrator.drive(first.id)).status, 'completed');
  const one = verifyManifest((await store.manifests.forRun(first.id, 'release'))?.envelope ?? '', keyset).payload;
  t.equal(one.seq, 1);

  // seq 2 was signed and published, then lost with the store's last commits; this node holds it
  const lost = await signedAt(a, one, 2, 'v-lost');
  await store.kv.set(HELD_KEY_PREFIX + 'testnet', JSON.stringify([lost, ...(await storedHeld(store, 'testnet'))]));
  a.service.deps.published = heldView(store);

  a.commitVersion({ version: 'v1.1.0', latencyMs: 10 });
  const second = (await a.service.startOrFind(await a.service.resolve('main'))).run;
  await t.rejects(a.service.orchestrator.drive(second.id), { code: 'E_SEQ_REGRESSION' });
  const blocked = await store.requireRun(second.id);
  t.equal(blocked.status, 'running', 'blocked, not failed: it waits for the repair');
  t.equal(blocked.stage, 'signing');
  t.equal(await store.getStageResult(second.id, 'sign'), null, 'SIGN recorded no outcome');
  t.same((await store.manifests.list('testnet')).map((m) => m.seq), [1], 'nothing was reserved');

  // the operator exports what the node holds and imports it
  const file = join(tempDir(t, 'upshift-import-'), 'testnet-2.json');
  const exported = (await findManifest({ store }, 'testnet#2')).evidence;
  t.match(exported, { track: 'testnet', seq: 2, version: 'v-lost', run_id: 'lost-run' });
  writeFileSync(file, `${exported.envelope}\n`);

  // refusals first: nothing changes
  const before = await stateOf(store);
  const other = await signedAt(a, one, 2, 'v-other');
  const forged = JSON.parse(lost) as { signatures: Array<{ keyid: string; sig: string }> };
  const sig = Buffer.from(forged.signatures[0]?.sig ?? '', 'base64');
  sig[0] = (sig[0] ?? 0) ^ 1;
  forged.signatures[0] = { ...forged.signatures[0] as { keyid: string }, sig: sig.toString('base64') };
  await t.rejects(importManifest(ctx, JSON.stringify(forged)), { code: 'E_SIG_INVALID' });
  await t.rejects(importManifest(ctx, await signedAt(a, { ...one, fleet: 'elsewhere' }, 2, 'v-lost')), { code: 'E_WRONG_FLEET' });
  await t.rejects(importManifest(ctx, await signedAt(a, one, 1, 'v-rewritten')), { code: 'E_SEQ_CONFLICT' },
    'a different manifest at a seq this store signed');
  t.same(await stateOf(store), before, 'refusals changed nothing');

  const done = await importManifest(ctx, readFileSync(file));
  t.match(done.evidence, { track: 'testnet', seq: 2, outcome: 'stored', signed_by_run: 'lost-run' });
  t.match((await importManifest(ctx, readFileSync(file))).evidence, { outcome: 'same' }, 'again: confirmed');
  await t.rejects(importManifest(ctx, other), { code: 'E_SEQ_CONFLICT' }, 'now a different envelope at seq 2 is refused');
  t.match((await importManifest(ctx, (await store.manifests.forRun(first.id, 'release'))?.envelope ?? '')).evidence,
    { seq: 1, outcome: 'same' }, 'the envelope this store signed: confirmed');
  const audit = (await store.events({ limit: 1000 })).filter((e) => e.kind === 'manifest.imported');
  t.match(audit.map((e) => [e.actor, e.data.seq, e.data.outcome]), [['cli:operator', 2, 'stored'], ['cli:operator', 2, 'same'], ['cli:operator', 1, 'same']]);
  t.equal((await findManifest({ store }, 'testnet#2')).evidence.envelope, exported.envelope, 'export finds the imported one');

  const resumed = await a.service.orchestrator.drive(second.id);
  t.equal(resumed.status, 'completed', resumed.reason ?? '');
  const three = await store.manifests.forRun(second.id, 'release');
  t.equal(three?.seq, 3, 'the next seq is one above the imported one');
  t.equal(verifyManifest(three?.envelope ?? '', keyset).payload.version, second.version);
  t.same((await store.manifests.list('testnet')).map((m) => m.seq), [1, 3], 'the imported seq belongs to no run of this store');
});

t.test('the built CLI imports a file and refuses a tampered one with its code', async (t) => {
  const a = await testAuthority(t);
  const base = { schema: MANIFEST_SCHEMA, fleet: a.service.deps.config.fleet, track: 'testnet', seq: 1, version: 'v0',
    commit: 'a'.repeat(40), code_hash: 'b'.repeat(64), created_at: '2026-01-01T00:00:00.000Z', expires_at: '2036-01-01T00:00:00.000Z',
    kind: 'release', targets: 'all', evidence: { run_id: 'x', test: null, benchmark: null, notes: [] } } as unknown as ManifestPayload;
  const dir = tempDir(t, 'upshift-import-cli-');
  const good = join(dir, 'good.json');
  writeFileSync(good, `${await signedAt(a, base, 4, 'v4')}\n`);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, readFileSync(good, 'utf8').replace(/"payload":"./, (m) => m.slice(0, -1) + (m.endsWith('e') ? 'f' : 'e')));
  const cli = (...args: string[]) => runCli(['--config', a.ws.configPath, ...args]);
  const refused = await cli('manifest', 'import', bad, '--json');
  t.not(refused.code, 0, diag(refused));
  t.match(refused.stdout + refused.stderr, /E_SIG_INVALID|E_MANIFEST_PARSE/);
  const r = await cli('manifest', 'import', good, '--json');
  t.equal(r.code, 0, diag(r));
  t.match(r.json(), { ok: true, track: 'testnet', seq: 4, outcome: 'stored' });
  const again = await cli('manifest', 'import', good);
  t.equal(again.code, 0, diag(again));
  t.match(again.stdout, /testnet#4 \(v4\) already held/);
});
