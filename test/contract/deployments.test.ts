// Deployments on every adapter: numbers per key, compare-and-set on rev, a step's
// reservations + change + event in one transaction, and one seq line per track shared with
// the pipeline's manifests (reserved once per step, bytes and envelope fixed).
import t from 'tap';
import { initialState } from '../../src/core/decisions/rollout.js';
import { resolvePolicy } from '../../src/core/deploy-policy.js';
import type { NewDeployment } from '../../src/core/deployment-records.js';
import type { StateStore } from '../../src/core/store-ports.js';
import { isUpshiftError } from '../../src/core/errors.js';
import { eachStore } from './stores.js';
import { registerPartialPostgres } from './pg-partial.js';

registerPartialPostgres(t);

const policy = resolvePolicy(undefined, {}, { progress_deadline: 600_000, auto_revert: true });
const draft = (id: string, extra: Partial<NewDeployment> = {}): NewDeployment => ({
  id, key: 'testnet', track: 'testnet', runId: null, kind: 'release', source: { version: 'v1', commit: 'b'.repeat(40) },
  target: { version: 'v2', commit: 'c'.repeat(40), code_hash: 'd'.repeat(64), run: 'r2', number: null },
  strategy: policy.strategy, policy, urgent: false, status: 'running', state: initialState(10, []),
  rollbackTarget: null, rollbackOf: null, createdAt: 10, ...extra,
});
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const step = (name: string, track = 'testnet') => ({
  step: name, track, targets: ['web-1'], deploymentId: 'ignored', at: 0, build: (seq: number) => bytes(`seq ${seq}`),
});

await eachStore(t, 'a deployment is stored whole and numbered per key', async (t, store) => {
  const d = await store.deployments.create(draft('dep-1', { urgent: true, runId: 'run-1' }));
  t.match(d, { id: 'dep-1', number: 1, rev: 0, urgent: true, health: {}, reason: null, finishedAt: null, createdAt: 10, updatedAt: 10 });
  t.same(d.target, { version: 'v2', commit: 'c'.repeat(40), code_hash: 'd'.repeat(64), run: 'r2', number: 1 });
  t.same(d.source, { version: 'v1', commit: 'b'.repeat(40) });
  t.same(d.policy, policy);
  const second = await store.deployments.create(draft('dep-2', { createdAt: 20 }));
  const other = await store.deployments.create(draft('dep-3', { key: 'production', track: 'production', createdAt: 30, source: null }));
  t.same([second.number, other.number, other.source, other.urgent], [2, 1, null, false]);
  t.same(await store.deployments.get('dep-1'), d);
  t.equal((await store.deployments.byNumber('testnet', 2))?.id, 'dep-2');
  t.equal((await store.deployments.forRun('run-1'))?.id, 'dep-1');
  t.equal(await store.deployments.get('nope'), null);
  t.same((await store.deployments.list()).map((x) => x.id), ['dep-3', 'dep-2', 'dep-1'], 'newest first');
  t.same((await store.deployments.list({ key: 'testnet', limit: 1 })).map((x) => x.id), ['dep-2']);
  t.same((await store.deployments.active()).map((x) => x.id), ['dep-1', 'dep-2', 'dep-3']);
  await t.rejects(store.deployments.create(draft('dep-4', { runId: 'run-1' })), 'one deployment per run');
  t.equal((await store.deployments.list()).length, 3);
});

await eachStore(t, 'progress changes only at the rev read; a finished status stamps finished_at once', async (t, store) => {
  const d = await store.deployments.create(draft('dep-1'));
  t.equal(await store.deployments.update(d.id, 0, { status: 'paused', reason: 'operator' }, 50), true);
  t.equal(await store.deployments.update(d.id, 0, { status: 'failed' }, 60), false, 'a stale rev changes nothing');
  t.match(await store.deployments.get(d.id), { status: 'paused', reason: 'operator', rev: 1, updatedAt: 50, finishedAt: null });
  t.equal(await store.deployments.update(d.id, 1, { status: 'succeeded', health: { 'web-1': { state: 'confirmed', version: 'v2', health: 'ok', role: 'wave' } } }, 70), true);
  t.match(await store.deployments.get(d.id), { status: 'succeeded', reason: 'operator', rev: 2, finishedAt: 70 });
  t.equal(await store.deployments.update(d.id, 2, { reason: null }, 80), true);
  t.match(await store.deployments.get(d.id), { reason: null, finishedAt: 70, health: { 'web-1': { state: 'confirmed' } } });
  t.equal((await store.deployments.lastSucceeded('testnet'))?.id, d.id);
  t.equal(await store.deployments.lastSucceeded('testnet', d.id), null);
  t.same(await store.deployments.active(), []);
  const err = await store.deployments.update('nope', 0, {}, 1).catch((e: unknown) => e);
  t.ok(isUpshiftError(err, 'E_DEPLOY_NOT_FOUND'));
});

await eachStore(t, 'a deployment step reserves, changes and records in one transaction, only at the rev it read', async (t, store) => {
  const d = await store.deployments.create(draft('dep-1'));
  const ok = await store.deployments.advance(d.id, d.rev, 20, (reserve) => {
    const m = reserve(step('wave-1'));
    t.equal(reserve(step('wave-1')).seq, m.seq, 'the same step again in one plan is the same record');
    const wave = { n: 1, kind: 'wave' as const, nodes: ['web-1'], step: 'wave-1', seq: m.seq, startedAt: 20, healthyAt: {}, doneAt: null };
    return { patch: { state: { ...d.state, waves: [wave] } }, event: { kind: 'wave', actor: 'rollout', outcome: 'accepted', data: { n: 1 } } };
  });
  t.equal(ok, true);
  const after = await store.deployments.get(d.id);
  t.equal(after?.rev, d.rev + 1);
  t.same(after?.state.waves.map((w) => w.seq), [1], 'the state holds the seq reserved in the same transaction');
  t.same((await store.deployments.manifests(d.id)).map((m) => [m.step, m.seq, m.deploymentId, m.targets]), [['wave-1', 1, d.id, ['web-1']]]);
  t.same((await store.deployments.events(d.id)).map((e) => [e.kind, e.at, e.data]), [['wave', 20, { n: 1 }]]);

  let planned = false;
  const stale = await store.deployments.advance(d.id, d.rev, 30, (reserve) => {
    planned = true;
    reserve(step('wave-2'));
    return { patch: { status: 'failed' }, event: { kind: 'fail', actor: 'rollout', outcome: 'accepted', data: {} } };
  });
  t.equal(stale, false, 'a step on a stale rev is refused');
  t.notOk(planned, 'and not even planned');
  t.equal((await store.deployments.get(d.id))?.status, 'running');
  t.equal((await store.deployments.manifests(d.id)).length, 1, 'nothing reserved');

  await t.rejects(store.deployments.advance(d.id, d.rev + 1, 40, (reserve) => {
    reserve(step('wave-2'));
    throw new Error('signing failed');
  }), /signing failed/);
  t.equal((await store.deployments.manifests(d.id)).length, 1, 'a plan that throws leaves no reservation');
  t.equal((await store.deployments.get(d.id))?.rev, d.rev + 1, 'and no change');

  t.equal(await store.deployments.advance(d.id, d.rev + 1, 50, (reserve) => {
    t.equal(reserve(step('wave-1')).seq, 1, 'a step reserved by an earlier step is handed back');
    t.equal(reserve(step('complete')).seq, 2);
    return { patch: { status: 'succeeded' }, event: null };
  }), true);
  t.same((await store.deployments.manifests(d.id)).map((m) => m.step), ['wave-1', 'complete']);
  t.equal((await store.deployments.events(d.id)).length, 1, 'a step without an event appends none');
  const err = await store.deployments.advance('nope', 0, 1, () => ({ patch: {}, event: null })).catch((e: unknown) => e);
  t.ok(isUpshiftError(err, 'E_DEPLOY_NOT_FOUND'));
});

async function pipelineManifest(store: StateStore, runId: string, at: number): Promise<number> {
  await store.createRun({ id: runId, track: 'testnet', version: runId, ref: 'main', commit: 'a'.repeat(40), retryOf: null, createdAt: at });
  const m = await store.manifests.reserve({
    runId, track: 'testnet', kind: 'release', purpose: 'release', version: runId, commit: 'a'.repeat(40), at, build: (seq) => bytes(`run ${seq}`),
  });
  return m.seq;
}

await eachStore(t, 'deployments and the pipeline take their seqs from one line per track', async (t, store) => {
  t.equal(await pipelineManifest(store, 'v1', 1), 1);
  const d = await store.deployments.create(draft('dep-1'));
  const canary = await store.deployments.reserveManifest({ ...step('canary'), deploymentId: d.id, at: 5 });
  t.same([canary.seq, canary.envelope, new TextDecoder().decode(canary.payload)], [2, null, 'seq 2']);
  let built = 0;
  const again = await store.deployments.reserveManifest({ ...step('canary'), deploymentId: d.id, build: () => { built++; return bytes('other'); } });
  t.same([again.seq, new TextDecoder().decode(again.payload), built], [2, 'seq 2', 0], 'the same step again: the stored record, not built twice');
  t.equal(await pipelineManifest(store, 'v2', 6), 3, 'the pipeline continues after the deployment');
  t.equal((await store.deployments.reserveManifest({ ...step('prod', 'production'), deploymentId: d.id })).seq, 1, 'each track counts on its own');
  t.equal(await store.deployments.maxSeq('testnet'), 2, 'maxSeq counts the deployments\' manifests');
  t.equal(await store.deployments.maxSeq('staging'), null);
  await t.rejects(store.deployments.reserveManifest({ ...step('bad'), deploymentId: d.id, build: () => { throw new Error('no key'); } }), /no key/);
  t.equal((await store.deployments.reserveManifest({ ...step('wave-1'), deploymentId: d.id })).seq, 4, 'a failed build left the seq free');
});

await eachStore(t, 'an envelope is set once; the identical one again is fine; the bytes never change', async (t, store) => {
  const d = await store.deployments.create(draft('dep-1'));
  await store.deployments.reserveManifest({ ...step('canary'), deploymentId: d.id });
  await store.deployments.setEnvelope(d.id, 'canary', '{"sig":1}');
  await store.deployments.setEnvelope(d.id, 'canary', '{"sig":1}');
  await t.rejects(store.deployments.setEnvelope(d.id, 'canary', '{"sig":2}'), /immutable/);
  t.equal((await store.deployments.manifest(d.id, 'canary'))?.envelope, '{"sig":1}');
  t.equal(await store.deployments.manifest(d.id, 'wave-9'), null);
});

await eachStore(t, 'events are kept in order, refused control actions too (without a deployment)', async (t, store) => {
  const d = await store.deployments.create(draft('dep-1'));
  await store.deployments.appendEvent({ deploymentId: d.id, at: 1, kind: 'pause', actor: 'cli:ann', outcome: 'accepted', data: { why: 'x' } });
  await store.deployments.appendEvent({ deploymentId: null, at: 2, kind: 'promote', actor: 'cli:bob', outcome: 'refused', data: {} });
  await store.deployments.appendEvent({ deploymentId: d.id, at: 3, kind: 'resume', actor: 'cli:ann', outcome: 'accepted', data: {} });
  t.same((await store.deployments.events(d.id)).map((e) => e.kind), ['pause', 'resume']);
  const all = await store.deployments.allEvents(2);
  t.same(all.map((e) => [e.kind, e.deploymentId]), [['resume', d.id], ['promote', null]], 'newest first');
  t.ok((all[0]?.seq ?? 0) > (all[1]?.seq ?? 0));
});

await eachStore(t, 'two steps at the same rev at once: exactly one is kept', async (t, store) => {
  const d = await store.deployments.create(draft('dep-1'));
  const go = (name: string) => store.deployments.advance(d.id, 0, 10, (reserve) => {
    reserve(step(name));
    return { patch: { reason: name }, event: { kind: name, actor: 'rollout', outcome: 'accepted', data: {} } };
  });
  const results = await Promise.all([go('a'), go('b'), go('c')]);
  t.same(results.filter(Boolean).length, 1);
  const after = await store.deployments.get(d.id);
  t.equal(after?.rev, 1);
  t.same((await store.deployments.manifests(d.id)).map((m) => m.step), [after?.reason], 'only the winner reserved');
  t.same((await store.deployments.events(d.id)).map((e) => e.kind), [after?.reason]);
});

await eachStore(t, 'reservations of many deployments at once never share a seq', async (t, store) => {
  const ds = await Promise.all(['d1', 'd2', 'd3', 'd4'].map((id) => store.deployments.create(draft(id))));
  t.same(ds.map((d) => d.number).sort(), [1, 2, 3, 4], 'creates at once get distinct numbers');
  const ms = await Promise.all(ds.map((d) => store.deployments.reserveManifest({ ...step('canary'), deploymentId: d.id })));
  t.same(ms.map((m) => m.seq).sort(), [1, 2, 3, 4]);
});
