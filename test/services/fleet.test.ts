// The fleet and node services on a real authority workspace (config and keys as the demo
// writes them, a real SQLite store): tokens, revocation, certificates, bad marks, health.
import t from 'tap';
import { createLogger } from '../../src/adapters/logger.js';
import { createWorkspace } from '../../scripts/demo/workspace.js';
import { loadConfig } from '../../src/runtime/config-load.js';
import { openStore } from '../../src/runtime/deps.js';
import type { ServiceContext } from '../../src/services/context.js';
import { benchmarkHistory } from '../../src/services/benchmarks.js';
import { fleetHealth, issueToken, listCerts, listFleet, revokeNode } from '../../src/services/fleet.js';
import { badMarks, unmarkBad } from '../../src/services/node.js';
import { hashToken } from '../../src/trust/join-token.js';
import type { Heartbeat } from '../../src/gossip/types.js';
import { toNodeState } from '../../src/node/agent/reports.js';
import { tempDir } from '../helpers/tmp.js';

const NOW = Date.parse('2026-11-29T12:00:00Z');

async function authorityContext(t: Tap.Test): Promise<ServiceContext> {
  const ws = await createWorkspace(tempDir(t, 'upshift-svc-'), { source: tempDir(t, 'upshift-src-') });
  const { config } = loadConfig(ws.configPath);
  const store = openStore(config.state_dir);
  t.teardown(() => store.close());
  const clock = { now: () => NOW, sleep: async () => {} };
  return { config, store, clock, log: createLogger({ level: 'silent' }), actor: 'cli:tester' };
}

t.test('issueToken stores only the hash, audits who asked, and checks its input', async (t) => {
  const ctx = await authorityContext(t);
  const r = await issueToken(ctx, { labels: { region: 'eu' }, ttlMs: 3_600_000, nodeId: 'web-3' });
  t.match(r.evidence, { node_id: 'web-3', labels: { region: 'eu' }, expires_at: new Date(NOW + 3_600_000).toISOString() });
  t.ok(await ctx.store.identity.token(hashToken(r.evidence.token)), 'stored by hash');
  t.match((await ctx.store.events()).find((e) => e.kind === 'identity.token_created'), { actor: 'cli:tester', data: { node_id: 'web-3' } });
  t.notMatch(JSON.stringify(await ctx.store.events()), r.evidence.token, 'the token itself is never in the audit trail');
  await t.rejects(() => issueToken(ctx, { labels: {}, ttlMs: 10, nodeId: null }), { code: 'E_USAGE' });
  await t.rejects(() => issueToken(ctx, { labels: {}, ttlMs: 60_000, nodeId: 'Bad Id' }), { code: 'E_USAGE' });
});

t.test('issueToken gives the join command whole, and says when it cannot work as printed', async (t) => {
  const ctx = await authorityContext(t);
  const r = (await issueToken(ctx, { labels: {}, ttlMs: 60_000, nodeId: 'web-3' })).evidence;
  t.match(r.join_command, new RegExp(`^upshift join --authority http://127\\.0\\.0\\.1:0 --token ${r.token} --trust sha256:[0-9a-f]{64} --node-id web-3$`));
  t.equal(r.note, null);
  ctx.config.gossip.listen = '0.0.0.0:7400';
  t.match((await issueToken(ctx, { labels: {}, ttlMs: 60_000, nodeId: null })).evidence.note, /set gossip\.advertise/);
  ctx.config.gossip.listen = '10.0.0.1:7400';
  t.match((await issueToken(ctx, { labels: {}, ttlMs: 60_000, nodeId: null })).evidence, { note: /--insecure/, join_command: /^upshift join --authority http:\/\/10\.0\.0\.1:7400 --token \S+ --trust \S+$/ });
});

t.test('revokeNode refuses a node never certified, revokes once, and says when it already was', async (t) => {
  const ctx = await authorityContext(t);
  await t.rejects(revokeNode(ctx, { node: 'ghost', reason: 'gone' }), { code: 'E_USAGE' });
  await ctx.store.identity.addCert({ nodeId: 'web-2', serial: 1, publicKey: 'e'.repeat(64), labels: {}, cert: '{}', issuedAt: NOW - 1, expiresAt: NOW + 1000, tokenHash: null });
  const first = await revokeNode(ctx, { node: 'web-2', reason: 'disk stolen' });
  t.match(first.evidence, { already_revoked: false, serial: 1, revocation_list: 1 });
  const again = await revokeNode(ctx, { node: 'web-2', reason: 'twice' });
  t.match(again.evidence, { already_revoked: true, reason: 'disk stolen', revocation_list: null });
  t.match((await listCerts(ctx)).evidence.certs, [{ node_id: 'web-2', status: 'revoked' }]);
});

t.test('fleet health is not ok when no node was heard', async (t) => {
  const ctx = await authorityContext(t);
  t.same((await listFleet(ctx)).evidence.nodes, []);
  const h = await fleetHealth(ctx);
  t.equal(h.evidence.ok, false);
  t.match(h.evidence.problems, [{ problem: /no node heard/ }]);
});

t.test('fleet health of a healthy node before any release says nothing was released, not that it is on a manifest', async (t) => {
  const ctx = await authorityContext(t);
  const heartbeat: Heartbeat = { node: 'web-1', versions: {}, code_hash: {}, health: 'ok', error_rate: 0, apply_state: 'idle', labels: {} };
  await ctx.store.fleet.record([toNodeState(heartbeat, NOW - 500)]);
  const h = await fleetHealth(ctx);
  t.equal(h.evidence.ok, true, h.reason);
  t.equal(h.reason, '1 node(s) heard, all healthy; nothing released yet on testnet, production');
});

t.test('bad marks: listed, cleared with a reason by the caller, refused when not marked', async (t) => {
  const ctx = await authorityContext(t);
  await ctx.store.journal.markBad({ track: 'testnet', commit: 'c'.repeat(40), version: 'v3', reason: 'probation failed', at: NOW });
  t.equal((await badMarks(ctx)).evidence.bad.length, 1);
  await t.rejects(() => unmarkBad(ctx, { version: 'v9', track: 'testnet', reason: 'fixed' }), { code: 'E_USAGE' });
  await t.rejects(() => unmarkBad(ctx, { version: 'v3', track: 'testnet', reason: ' ' }), { code: 'E_USAGE' });
  await t.rejects(() => unmarkBad(ctx, { version: 'v3', reason: 'fixed' }), { code: 'E_USAGE' }, 'two tracks: say which');
  const r = await unmarkBad(ctx, { version: 'v3', track: 'testnet', reason: 'disk fixed' });
  t.equal(r.evidence.cleared.length, 1);
  t.same((await badMarks(ctx)).evidence.bad, []);
  t.match((await ctx.store.events()).find((e) => e.kind === 'apply.unmarked'), { actor: 'cli:tester', data: { reason: 'disk fixed' } });
});

t.test('benchmark history narrows to a suite and a metric, newest first', async (t) => {
  const ctx = await authorityContext(t);
  const metric = (v: number) => ({ value: v, better: 'lower' as const, unit: 'ms' });
  const save = async (runId: string, suite: string, at: number, metrics: Record<string, ReturnType<typeof metric>>) =>
    await ctx.store.benchmarks.save({ runId, suite, track: 'testnet', version: runId, commit: 'c'.repeat(40), metrics, samples: [], createdAt: at });
  for (const id of ['r-1', 'r-2']) await ctx.store.createRun({ id, track: 'testnet', version: id, ref: 'main', commit: 'c'.repeat(40), retryOf: null, createdAt: NOW });
  await save('r-1', 'micro', NOW - 2000, { latency_ms: metric(12), rss_mb: metric(40) });
  await save('r-2', 'micro', NOW - 1000, { latency_ms: metric(11) });
  await save('r-2', 'macro', NOW - 1000, { boot_ms: metric(300) });
  await t.rejects(() => benchmarkHistory(ctx, { limit: 0 }), { code: 'E_USAGE' });
  const latency = (await benchmarkHistory(ctx, { suite: 'micro', metric: 'latency_ms', limit: 10 })).evidence.snapshots;
  t.same(latency.map((s) => [s.run_id, s.metrics.latency_ms?.value]), [['r-2', 11], ['r-1', 12]]);
  const rss = (await benchmarkHistory(ctx, { metric: 'rss_mb', limit: 10 })).evidence.snapshots;
  t.same(rss.map((s) => s.run_id), ['r-1'], 'snapshots without the metric are left out');
  t.equal((await benchmarkHistory(ctx, { suite: 'none', limit: 3 })).reason, 'no benchmark snapshots of suite none recorded yet');
});
