// `upshift deployment deploy|list|status|promote|pause|resume|fail|rollback`: parse, call
// the deployment services, render. The authority's daemon drives what these start. On
// PostgreSQL replicas every change is queued for the leader (authority.ts queueForLeader).
import type { Command } from 'commander';
import type { PolicyFlags } from '../../core/deploy-policy.js';
import { formatDuration } from '../../core/duration.js';
import { UpshiftError } from '../../core/errors.js';
import type { Deployment } from '../../adapters/sqlite/deployments.js';
import {
  deploy, deploymentStatus, failDeployment, listDeployments, pauseDeployment, promoteDeployment, resumeDeployment, rollbackDeployment,
} from '../../services/deployments.js';
import { action, printJson, say, type Session } from '../shared.js';
import { queueForLeader, sayQueued } from './authority.js';

interface PolicyOpts {
  strategy?: string; maxParallel?: string; canary?: string; minHealthy?: string; healthyDeadline?: string;
  progressDeadline?: string; stagger?: string; autoPromote?: boolean; autoRevert?: boolean; json?: boolean;
}

const withPolicy = (c: Command) => c
  .option('--strategy <name>', 'rolling | canary | blue_green').option('--max-parallel <n>', 'nodes moving at once: a count or a percentage')
  .option('--canary <n>', 'canary nodes (strategy canary): a count or a percentage').option('--min-healthy <duration>')
  .option('--healthy-deadline <duration>').option('--progress-deadline <duration>').option('--stagger <duration>')
  .option('--auto-promote', 'promote the canary wave once healthy').option('--no-auto-promote')
  .option('--auto-revert', 'on failure, move the moved nodes back').option('--no-auto-revert')
  .option('--json', 'print JSON');

function flagsOf(o: PolicyOpts, argv: readonly string[]): PolicyFlags {
  // commander sets both --x and --no-x into one value; asking for both is a contradiction, not "the last one wins"
  for (const f of ['auto-promote', 'auto-revert']) {
    if (argv.includes(`--${f}`) && argv.includes(`--no-${f}`)) throw new UpshiftError('E_DEPLOY_POLICY', `--${f} and --no-${f} contradict each other`);
  }
  const given = (f: string) => argv.includes(`--${f}`) || argv.includes(`--no-${f}`);
  return {
    ...(o.strategy !== undefined ? { strategy: o.strategy } : {}), ...(o.maxParallel !== undefined ? { max_parallel: o.maxParallel } : {}),
    ...(o.canary !== undefined ? { canary: o.canary } : {}), ...(o.minHealthy !== undefined ? { min_healthy: o.minHealthy } : {}),
    ...(o.healthyDeadline !== undefined ? { healthy_deadline: o.healthyDeadline } : {}),
    ...(o.progressDeadline !== undefined ? { progress_deadline: o.progressDeadline } : {}), ...(o.stagger !== undefined ? { stagger: o.stagger } : {}),
    ...(given('auto-promote') ? { auto_promote: Boolean(o.autoPromote) } : {}), ...(given('auto-revert') ? { auto_revert: Boolean(o.autoRevert) } : {}),
  };
}

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19));

export function deploymentLine(d: Deployment): string {
  return `${`${d.key}#${d.number}`.padEnd(16)} ${d.id.padEnd(13)} ${d.status.padEnd(15)} ${d.strategy.padEnd(8)} `
    + `${(d.source?.version ?? '-').padEnd(12)} -> ${d.target.version.padEnd(12)} ${iso(d.createdAt)}`;
}

function deploymentShow(d: Deployment): string {
  const p = d.policy;
  const lines = [
    deploymentLine(d),
    `  reason: ${d.reason ?? '-'}`,
    `  policy: max_parallel ${p.max_parallel}, canary ${p.canary}, min_healthy ${formatDuration(p.min_healthy)}, healthy_deadline ${formatDuration(p.healthy_deadline)}, `
      + `progress_deadline ${formatDuration(p.progress_deadline)}, auto_promote ${p.auto_promote}, auto_revert ${p.auto_revert}`,
    `  commits: ${d.source?.commit.slice(0, 12) ?? '-'} -> ${d.target.commit.slice(0, 12)}; rollback target: ${d.rollbackTarget ? `${d.rollbackTarget.version} (${d.rollbackTarget.commit.slice(0, 12)})` : '-'}`,
    ...d.state.waves.map((w) => `  ${w.kind} ${w.n} (#${w.seq}): ${w.nodes.join(', ')}${w.doneAt ? ' healthy' : ''}`),
    ...Object.entries(d.health).map(([n, h]) => `  ${n.padEnd(14)} ${h.role.padEnd(8)} ${h.state.padEnd(11)} ${(h.version ?? '-').padEnd(12)} ${h.health}${h.note ? `  ${h.note}` : ''}`),
  ];
  return lines.join('\n');
}

export function registerDeployment(program: Command, session: Session): void {
  const dep = program.command('deployment').description('deploy releases with a policy; list, inspect and control deployments');
  const argv = process.argv;

  withPolicy(dep.command('deploy').description('deploy a signed version with the key\'s policy (flags override it)')
    .argument('<key>', 'deployment key (a track name by default)').option('--version <version>', 'a version a run signed').option('--run <id>', 'or the run that signed it')
    .option('--urgent', 'switch nodes outside their maintenance windows (recorded)'))
    .action(action(session, async (key: string, o: PolicyOpts & { version?: string; run?: string; urgent?: boolean }) => {
      const input = {
        key, flags: flagsOf(o, argv), urgent: Boolean(o.urgent), ...(o.version !== undefined ? { version: o.version } : {}), ...(o.run !== undefined ? { runId: o.run } : {}),
      };
      const args = { flags: input.flags, urgent: input.urgent, version: o.version ?? null, run: o.run ?? null };
      const queued = await queueForLeader(session.config().config, 'deploy', key, 'deploy', { args });
      if (queued) return sayQueued(queued, o.json);
      const r = await deploy(session.context(), input);
      if (o.json) return printJson({ ok: true, reason: r.reason, deployment: r.evidence.deployment });
      say(r.reason);
    }));

  dep.command('list').description('deployments, newest first').option('--key <key>').option('--limit <n>', 'how many', '20').option('--json', 'print JSON')
    .action(action(session, async (o: { key?: string; limit: string; json?: boolean }) => {
      if (!/^\d{1,4}$/.test(o.limit)) throw new UpshiftError('E_USAGE', '--limit must be a number');
      const r = await listDeployments(session.context(), { ...(o.key ? { key: o.key } : {}), limit: Number(o.limit) });
      if (o.json) return printJson({ ok: true, deployments: r.evidence.deployments });
      say(r.evidence.deployments.length ? r.evidence.deployments.map(deploymentLine).join('\n') : r.reason);
    }));

  dep.command('status').description('one deployment: policy, waves, every node, events').argument('<deployment>', 'id, KEY#NUMBER or key').option('--json', 'print JSON')
    .action(action(session, async (ref: string, o: { json?: boolean }) => {
      const r = await deploymentStatus(session.context(), ref);
      if (o.json) return printJson({ ok: true, ...r.evidence });
      say(deploymentShow(r.evidence.deployment));
      for (const e of r.evidence.events) say(`  ${iso(e.at)} ${e.actor.padEnd(12)} ${e.kind.padEnd(18)} ${e.outcome}  ${String(e.data.why ?? e.data.reason ?? '')}`);
    }));

  const simple: Array<['promote' | 'pause' | 'resume', string, typeof promoteDeployment]> = [
    ['promote', 'let a canary deployment waiting for promote continue', promoteDeployment],
    ['pause', 'stop further nodes from moving (kept across restarts)', pauseDeployment],
    ['resume', 'continue a paused deployment where it stopped', resumeDeployment],
  ];
  for (const [name, about, fn] of simple) {
    dep.command(name).description(about).argument('<deployment>', 'id, KEY#NUMBER or key').option('--reason <text>', 'why', name).option('--json', 'print JSON')
      .action(action(session, async (ref: string, o: { reason: string; json?: boolean }) => {
        const queued = await queueForLeader(session.config().config, name, ref, o.reason);
        if (queued) return sayQueued(queued, o.json);
        const r = await fn(session.context(), ref, o.reason);
        if (o.json) return printJson({ ok: true, reason: r.reason, deployment: r.evidence.deployment });
        say(r.reason);
      }));
  }

  dep.command('fail').description('stop a deployment; with auto_revert the moved nodes go back').argument('<deployment>', 'id, KEY#NUMBER or key')
    .requiredOption('--reason <text>', 'why').option('--json', 'print JSON')
    .action(action(session, async (ref: string, o: { reason: string; json?: boolean }) => {
      const queued = await queueForLeader(session.config().config, 'fail', ref, o.reason);
      if (queued) return sayQueued(queued, o.json);
      const r = await failDeployment(session.context(), ref, o.reason);
      if (o.json) return printJson({ ok: true, reason: r.reason, deployment: r.evidence.deployment });
      say(r.reason);
    }));

  withPolicy(dep.command('rollback').description('a new deployment version that brings back version N (which was healthy)').argument('<key>', 'deployment key')
    .requiredOption('--version <n>', 'the deployment version number to bring back').requiredOption('--reason <text>', 'why'))
    .action(action(session, async (key: string, o: PolicyOpts & { version: string; reason: string }) => {
      if (!/^\d{1,9}$/.test(o.version)) throw new UpshiftError('E_USAGE', `--version must be a deployment version number (see \`deployment list --key ${key}\`), got "${o.version}"`);
      const flags = flagsOf(o, argv);
      const queued = await queueForLeader(session.config().config, 'deploy_rollback', key, o.reason, { args: { number: Number(o.version), flags } });
      if (queued) return sayQueued(queued, o.json);
      const r = await rollbackDeployment(session.context(), { key, number: Number(o.version), reason: o.reason, flags });
      if (o.json) return printJson({ ok: true, reason: r.reason, deployment: r.evidence.deployment });
      say(r.reason);
    }));
}
