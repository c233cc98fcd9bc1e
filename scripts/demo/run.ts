// The demo: an authority and four nodes on loopback (real daemons, real gossip, real
// applies of a sample app), and three versions committed to the app's repository:
// a baseline that reaches every node, a faster release that goes through all seven
// stages and its canary to every node, and one whose health endpoint fails, which is
// stopped at the canary and rolled back there. The daemons do the work; the demo only
// commits and watches the authority's state. Everything lives in a temp dir removed at the end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExitCode } from '../../src/core/errors.js';
import { formatDuration } from '../../src/core/duration.js';
import type { NodeState } from '../../src/core/node-state.js';
import type { Run } from '../../src/core/run.js';
import { openStore } from '../../src/runtime/deps.js';
import { stageLine } from '../../src/cli/render.js';
import type { SampleKnobs } from './sample-app.js';
import { LoopbackFleet } from './fleet.js';
import { waitForRun } from './watch.js';

interface Step {
  knobs: SampleKnobs;
  story: string;
  expect: Run['status'];
  /** The version every node runs afterwards. */
  fleetOn: string;
}

const STEPS: Step[] = [
  { knobs: { version: 'v1', latencyMs: 10 }, story: 'baseline: no node runs the app yet, so none is a healthy canary candidate; deploy brings it to every node', expect: 'completed', fleetOn: 'v1' },
  { knobs: { version: 'v2', latencyMs: 9 }, story: 'a faster version: all seven stages, soaked on a canary, then every node', expect: 'completed', fleetOn: 'v2' },
  { knobs: { version: 'v3', latencyMs: 9, healthy: false }, story: 'its /healthz answers 500: the canary rolls itself back and the stage publishes a signed rollback; the rest never see it', expect: 'rolled_back', fleetOn: 'v2' },
];

export async function runDemo(opts: { keep: boolean; out: NodeJS.WritableStream; nodes?: number }): Promise<ExitCode> {
  const say = (s: string) => opts.out.write(`${s}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'upshift-demo-'));
  const fleet = new LoopbackFleet({ dir, nodes: opts.nodes ?? 4 });
  try {
    say(`upshift demo in ${dir}`);
    await fleet.start();
    say(`authority ${fleet.authority.url} and ${fleet.nodes.length} nodes (${fleet.nodes.map((n) => `${n.id} ${n.url}`).join(', ')}) joined with one-time tokens and gossiping\n`);
    const store = openStore(fleet.authority.stateDir);
    const rows: Array<{ version: string; run: Run; took: number; ok: boolean; stoppedAt: string | null; on: number }> = [];
    // manifests name a testnet version by its commit id; the demo names it by the app's label
    const label = new Map<string, string>();
    const commitOf = (v: string) => [...label].find(([, l]) => l === v)?.[0] ?? v;
    try {
      for (const step of STEPS) {
        say(`── ${step.knobs.version}: ${step.story}`);
        const started = Date.now();
        const commit = fleet.commit(step.knobs);
        label.set(commit, step.knobs.version);
        const run = await waitForRun(store, 'testnet', commit, { onStage: (r) => say(stageLine(r)), timeoutMs: 5 * 60_000 });
        const view = await settledFleet(store, fleet.nodes.map((n) => n.id), commitOf(step.fleetOn));
        for (const line of fleetLines(view, label)) say(line);
        const stopped = (await store.stageResults(run.id)).find((r) => r.outcome === 'failed' || r.outcome === 'rolled_back');
        const on = view.filter((r) => r.tracks.testnet?.version === commit).length;
        const allOn = view.length === fleet.nodes.length && view.every((r) => r.tracks.testnet?.version === commitOf(step.fleetOn));
        rows.push({ version: step.knobs.version, run, took: Date.now() - started, ok: run.status === step.expect && allOn, stoppedAt: stopped?.stage ?? null, on });
        say('');
      }
    } finally {
      store.close();
    }
    say('summary');
    say('  version  run            status       stopped at  nodes on it  took    as expected');
    for (const r of rows) {
      say(`  ${r.version.padEnd(8)} ${r.run.id.padEnd(14)} ${r.run.status.padEnd(12)} ${(r.stoppedAt ?? '-').padEnd(11)} ${`${r.on}/${fleet.nodes.length}`.padEnd(12)} ${formatDuration(r.took).padStart(6)}  ${r.ok ? 'yes' : 'NO'}`);
    }
    return rows.every((r) => r.ok) ? 0 : 1;
  } catch (err) {
    say(`demo stopped: ${(err as Error).message}`);
    return 1;
  } finally {
    await fleet.stop();
    if (opts.keep) say(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** The authority's view once every node runs `version` confirmed (or 20 s pass): heartbeats lag the apply. */
async function settledFleet(store: ReturnType<typeof openStore>, ids: string[], version: string): Promise<NodeState[]> {
  const until = Date.now() + 20_000;
  for (;;) {
    const view = (await store.fleet.nodes()).filter((r) => ids.includes(r.node)).sort((a, b) => a.node.localeCompare(b.node));
    const settled = view.length === ids.length && view.every((r) => r.tracks.testnet?.version === version && r.health === 'ok' && !/probation|switching|staged|verified/.test(r.tracks.testnet?.apply ?? ''));
    if (settled || Date.now() > until) return view;
    await new Promise((r) => setTimeout(r, 500));
  }
}

function fleetLines(view: NodeState[], label: Map<string, string>): string[] {
  return view.map((r) => {
    const t = r.tracks.testnet;
    const rate = r.errorRate === null ? '-' : r.errorRate.toFixed(3);
    return `    ${r.node.padEnd(8)} ${(r.labels.region ?? '').padEnd(4)} runs ${(t?.version ? (label.get(t.version) ?? t.version.slice(0, 12)) : '-').padEnd(4)} health ${r.health.padEnd(7)} errors ${rate.padEnd(6)} last apply #${t?.seq ?? '-'} ${t?.apply ?? 'idle'}`;
  });
}
