// start_upgrade(dry_run: true): what starting a version would do, read-only. Nothing is
// written to the store (the source mirror is fetched, as any status read does): which
// commit and version would run, each stage with its commands, which nodes would be canaries
// today, what the rollout would do, and which gates are likely to stop it.
import { selectCanaries } from '../core/decisions/canary.js';
import { trackNodes } from '../core/decisions/convergence.js';
import { protectedPathChanges } from '../core/decisions/protected-paths.js';
import { TERMINAL } from '../core/run.js';
import type { Candidate, PipelineService } from '../runtime/pipeline-service.js';
import { allSuites } from '../stages/benchmark-repos.js';
import type { Outcome } from './context.js';
import { defaultRef } from './upgrade.js';
import { silentAfterHeld } from '../node/agent/held-settings.js';

export interface PlannedStage {
  stage: string;
  does: string;
  commands: string[];
}

export interface Gate {
  gate: 'run_active' | 'already_ran' | 'no_benchmark_baseline' | 'protected_paths_changed' | 'no_eligible_canary' | 'marked_bad';
  stops: boolean;
  detail: string;
}

export interface UpgradePlan {
  candidate: Candidate;
  stages: PlannedStage[];
  canaries: { eligible: string[]; excluded: Array<{ id: string; why: string }>; would_pick: number; example: string[]; note: string };
  rollout: { canary_soak_ms: number; promotion: string; then: string; progress_deadline_ms: number; auto_revert: boolean; live_nodes: number };
  gates: Gate[];
}

export async function planUpgrade(p: PipelineService, input: { ref?: string; track?: string }): Promise<Outcome<UpgradePlan>> {
  const { store, authority } = p.deps;
  const target = input.ref ? { ref: input.ref, track: input.track } : await defaultRef(p, input.track);
  const candidate = await p.resolve(target.ref, target.track);
  const suites = await allSuites(p.deps);
  const stages: PlannedStage[] = [
    { stage: 'build', does: `check out ${candidate.commit.slice(0, 12)}, hash it, build`, commands: [authority.build.command] },
    { stage: 'test', does: `tests must pass at ≥ ${authority.test.min_pass_rate * 100}%`, commands: [authority.test.command] },
    { stage: 'audit', does: `audit commands, protected paths ${authority.audit.protected_paths.join(', ') || '(none)'}, key self-test`, commands: authority.audit.commands },
    { stage: 'benchmark', does: `${suites.length} suite(s), tolerance ${authority.benchmark.tolerance * 100}%`, commands: suites.map((s) => `${s.name}: ${s.command}${s.repo ? ` (in ${s.repo.url} @ ${s.repo.commit.slice(0, 12)})` : ''}`) },
    { stage: 'sign', does: 'sign the release manifest', commands: [] },
    { stage: 'canary', does: `release to ${authority.canary.fraction * 100}% of eligible nodes, soak ${authority.canary.soak / 1000} s, judge five criteria`, commands: [] },
    { stage: 'deploy', does: 'release to every live node and wait for each to confirm', commands: [] },
  ];

  const candidates = await p.deps.fleet.canaryCandidates(candidate.track);
  const sel = selectCanaries(candidates, { fraction: authority.canary.fraction, labels: authority.canary.labels, seed: candidate.version });
  const eligible = candidates.filter((c) => c.verified && c.healthy).map((c) => c.id).sort();
  const nodes = trackNodes(await p.deps.fleet.nodes(), candidate.track, {
    now: p.deps.clock.now(), silentAfterMs: await silentAfterHeld(p.deps.config, store, authority.canary.heartbeat_timeout),
  });
  const gates: Gate[] = [];

  const active = (await store.unfinishedRuns()).find((r) => r.track === candidate.track);
  if (active && active.version !== candidate.version) {
    gates.push({ gate: 'run_active', stops: true, detail: `run ${active.id} (${active.version}) is at ${active.stage}: start is refused (E_RUN_ACTIVE)` });
  }
  const existing = await store.findRun(candidate.track, candidate.version);
  if (existing && TERMINAL.has(existing.status)) {
    gates.push({ gate: 'already_ran', stops: true, detail: `run ${existing.id} already ran this version (${existing.status}); a version runs once` });
  }
  const stable = await store.lastStable(candidate.track);
  const baseline = stable ? await store.benchmarks.forRun(stable.id) : [];
  const noBase = suites.filter((s) => !baseline.some((b) => b.suite === s.name)).map((s) => s.name);
  if (noBase.length) {
    gates.push({ gate: 'no_benchmark_baseline', stops: false, detail: `no baseline for ${noBase.join(', ')}: this run would record the first one, comparing nothing` });
  }
  if (stable && authority.audit.protected_paths.length) {
    const [before, after] = await Promise.all([p.deps.source.tree(stable.commit), p.deps.source.tree(candidate.commit)]);
    const changed = protectedPathChanges(authority.audit.protected_paths, before, after);
    if (changed.length) {
      gates.push({
        gate: 'protected_paths_changed', stops: true,
        detail: `protected paths changed since ${stable.version}: ${changed.map((c) => `${c.path} (${c.change})`).join(', ')}; AUDIT stops until approved`,
      });
    }
  }
  if (sel.canaries.length === 0) {
    gates.push({ gate: 'no_eligible_canary', stops: false, detail: `${sel.reason}: CANARY would be skipped and the release go to every node at once` });
  }
  const bad: Array<{ node: string }> = [];
  for (const r of await p.deps.fleet.nodes()) {
    const t = r.tracks[candidate.track];
    if (!t || t.seq === null || !/rolled_back|failed|bad/.test(t.apply)) continue;
    // a heartbeat names the seq it gave up on; the manifest says which version that was
    const m = await store.manifests.get(candidate.track, t.seq);
    if (m?.commit === candidate.commit) bad.push({ node: r.node });
  }
  if (bad.length) {
    gates.push({ gate: 'marked_bad', stops: true, detail: `${bad.map((r) => r.node).join(', ')} report this version rolled back (marked bad there)` });
  }
  // heartbeats move on after a rollback; the runs remember which canaries took the commit back
  for (const r of (await store.listRuns({ limit: 1000 })).filter((x) => x.commit === candidate.commit && x.status === 'rolled_back')) {
    const plan = await store.plans.canaryPlan(r.id);
    const canary = await store.getStageResult(r.id, 'canary');
    if (!plan?.canaries.length || !canary) continue;
    gates.push({
      gate: 'marked_bad', stops: true,
      detail: `run ${r.id} rolled this commit back on canary ${plan.canaries.join(', ')}: ${r.reason ?? canary.reason}`,
    });
  }

  const live = nodes.filter((n) => n.state !== 'silent').length;
  const plan: UpgradePlan = {
    candidate,
    stages,
    canaries: {
      eligible, excluded: sel.excluded, would_pick: sel.canaries.length, example: sel.canaries,
      note: `${sel.reason}; the real pick is seeded by the run id, so it may be other nodes among the eligible`,
    },
    rollout: {
      canary_soak_ms: authority.canary.soak, promotion: authority.canary.promotion,
      then: authority.canary.promotion === 'manual' ? 'wait for promotion, then every live node' : 'every live node',
      progress_deadline_ms: authority.deploy.progress_deadline, auto_revert: authority.deploy.auto_revert, live_nodes: live,
    },
    gates,
  };
  const stops = gates.filter((g) => g.stops);
  const reason = `dry run, nothing written: ${candidate.track} ${candidate.version} (${candidate.commit.slice(0, 12)}) would run 7 stages, `
    + `${sel.canaries.length} canary node(s) of ${eligible.length} eligible, then ${live} live node(s); `
    + (stops.length ? `likely stopped by ${stops.map((g) => g.gate).join(', ')}` : gates.length ? `notes: ${gates.map((g) => g.gate).join(', ')}` : 'no gate expected to stop it');
  return { reason, evidence: plan };
}
