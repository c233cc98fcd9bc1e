// /metrics over a real authority store: every documented metric name is there, in
// Prometheus conventions, and each moves when what it counts happens (runs recorded by a
// real pipeline, applies in the journal, heartbeats in the fleet read model, gossip counts).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createMetrics, type GossipView } from '../../src/http/metrics.js';
import { testAuthority } from '../helpers/authority.js';
import { repoPath } from '../helpers/paths.js';

/** The value of one series, matched on its labels (in any order); null when absent. */
function value(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return null;
}

const NAMES = [
  'upshift_stage_duration_seconds_bucket', 'upshift_stage_duration_seconds_sum', 'upshift_stage_duration_seconds_count',
  'upshift_stage_results_total', 'upshift_canary_verdicts_total', 'upshift_applies_total', 'upshift_runs',
  'upshift_floor_seq', 'upshift_gossip_manifest_seq', 'upshift_node_heartbeat_age_seconds',
  'upshift_gossip_messages_received_total', 'upshift_gossip_messages_sent_total', 'upshift_gossip_messages_refused_total',
  'upshift_gossip_manifests_total', 'upshift_source_poll_success', 'upshift_source_poll_age_seconds', 'upshift_last_poll_timestamp_seconds',
];

t.test('every metric is exposed under its documented name and moves with what it counts', async (t) => {
  const a = await testAuthority(t);
  const { config, store } = a.service.deps;
  let now = Date.parse('2026-11-29T12:00:00Z');
  const gossip: GossipView = { received: 0, refused: {}, sent: { push: 0, sync: 0, pull: 0 }, manifests: { accepted: 0, refused: 0 } };
  const registry = createMetrics(config, store, {
    heldSeq: async () => 4, gossip: () => gossip, now: () => now,
    source: async () => ({ polledAt: now - 30_000, pollOk: true, branches: [{ track: 'testnet', present: true }] }),
  });
  const scrape = () => registry.metrics();

  const before = await scrape();
  t.equal(value(before, 'upshift_stage_results_total'), null, 'no stage has run');
  t.equal(value(before, 'upshift_source_poll_age_seconds'), 30);

  // a run that completes (canary skipped: no peers), then one that fails its tests
  const first = (await a.service.startOrFind(await a.service.resolve('main'))).run;
  t.equal((await a.service.orchestrator.drive(first.id)).status, 'completed');
  let text = await scrape();
  t.equal(value(text, 'upshift_stage_results_total', { stage: 'build', outcome: 'passed' }), 1);
  t.equal(value(text, 'upshift_stage_duration_seconds_count', { stage: 'test', outcome: 'passed' }), 1);
  t.equal(value(text, 'upshift_stage_duration_seconds_bucket', { stage: 'test', outcome: 'passed', le: '+Inf' }), 1);
  t.equal(value(text, 'upshift_canary_verdicts_total', { track: 'testnet', verdict: 'skipped' }), 1);
  t.equal(value(text, 'upshift_runs', { track: 'testnet', status: 'completed' }), 1);
  a.commitVersion({ version: 'v1.1.0', latencyMs: 10, failingTests: 5 });
  const second = (await a.service.startOrFind(await a.service.resolve('main'))).run;
  t.equal((await a.service.orchestrator.drive(second.id)).status, 'failed');
  text = await scrape();
  t.equal(value(text, 'upshift_stage_results_total', { stage: 'build', outcome: 'passed' }), 2, 'counted once per result, not once per scrape');
  t.equal(value(text, 'upshift_stage_results_total', { stage: 'test', outcome: 'failed' }), 1);
  t.equal(value(await scrape(), 'upshift_stage_results_total', { stage: 'build', outcome: 'passed' }), 2, 'a scrape with nothing new adds nothing');
  const fresh = createMetrics(config, store, { heldSeq: async () => null });
  t.equal(value(await fresh.metrics(), 'upshift_stage_results_total', { stage: 'build', outcome: 'passed' }), 2, 'a restart reads the totals back from the store');

  // applies of this node, as the journal ends them
  const tables = store.journal;
  const apply = await tables.begin({ track: 'testnet', seq: 4, version: 'v4', commit: 'c'.repeat(40), kind: 'release', codeHash: 'd'.repeat(64), releaseDir: 'r4', previousDir: null, envelope: '{}' }, now, 'verified');
  t.equal(value(await scrape(), 'upshift_applies_total', { track: 'testnet', outcome: 'rolled_back' }), null, 'an open apply is not counted');
  await tables.transition(apply.id, 'rolled_back', 'health failed', now);
  t.equal(value(await scrape(), 'upshift_applies_total', { track: 'testnet', outcome: 'rolled_back' }), 1);

  // heartbeats heard by the authority, and their age as the clock moves
  await store.fleet.record([{ node: 'web-1', heardAt: now - 2_000, labels: {}, health: 'ok', errorRate: 0, smoke: null, tracks: {} }]);
  t.equal(value(await scrape(), 'upshift_node_heartbeat_age_seconds', { peer: 'web-1' }), 2);
  now += 10_000;
  t.equal(value(await scrape(), 'upshift_node_heartbeat_age_seconds', { peer: 'web-1' }), 12);

  // gossip counts from the agent
  Object.assign(gossip, { received: 7, refused: { E_REPLAY: 2 }, sent: { push: 5, sync: 1, pull: 0 }, manifests: { accepted: 1, refused: 1 } });
  text = await scrape();
  t.equal(value(text, 'upshift_gossip_messages_received_total'), 7);
  t.equal(value(text, 'upshift_gossip_messages_refused_total', { reason: 'E_REPLAY' }), 2);
  t.equal(value(text, 'upshift_gossip_messages_sent_total', { kind: 'push' }), 5);
  t.equal(value(text, 'upshift_gossip_manifests_total', { result: 'accepted' }), 1);
  t.equal(value(text, 'upshift_gossip_manifest_seq', { track: 'testnet' }), 4);

  // the floor per track, as this node accepted manifests
  t.equal(value(text, 'upshift_floor_seq', { track: 'testnet' }), null, 'no floor before any manifest was accepted');
  await store.floors.raise('testnet', 4, now);
  text = await scrape();
  t.equal(value(text, 'upshift_floor_seq', { track: 'testnet' }), 4);

  const names = new Set(text.split('\n').map((l) => /^([a-z_:]+)[{ ]/.exec(l)?.[1]).filter(Boolean));
  for (const name of NAMES) t.ok(names.has(name), `${name} is exposed`);
  for (const name of NAMES) t.match(text, new RegExp(`# HELP ${name.replace(/_(bucket|sum|count)$/, '')} `), `${name} has help text`);
});

t.test('the README documents every metric', async (t) => {
  const readme = readFileSync(repoPath('README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Metrics'));
  t.ok(readme.includes('## Metrics'), 'a Metrics section');
  for (const name of new Set(NAMES.map((n) => n.replace(/_(bucket|sum|count)$/, '')))) t.match(section, `\`${name}\``, name);
});
