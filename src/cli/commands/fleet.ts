// `upshift fleet ls|health`: the fleet as this node has heard it (on the authority: every
// node). `health` exits 1 when a node is silent, unhealthy or behind, so a script can act.
import type { Command } from 'commander';
import { fleetProblems, fleetView, type FleetNodeView } from '../../runtime/fleet-view.js';
import { oneLine, shortVersion } from '../render.js';
import { action, printJson, say, type Session } from '../shared.js';

function line(n: FleetNodeView): string {
  const tracks = Object.entries(n.tracks).map(([track, t]) => `${track} ${t.version ? shortVersion(t.version) : '-'} #${t.seq ?? '-'} ${t.state}${t.behind ? ' (behind)' : ''}`).join('; ') || 'no app';
  const labels = Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-';
  const rate = n.error_rate === null ? '-' : n.error_rate.toFixed(3);
  const heard = `${Math.round(n.age_ms / 1000)}s ago${n.silent ? ' (silent)' : ''}`;
  return `${n.node.padEnd(16)} ${labels.padEnd(14)} ${n.health.padEnd(8)} errors ${rate.padEnd(6)} heard ${heard.padEnd(16)} ${n.member ?? '-'}${n.revoked ? ' REVOKED' : ''}  ${tracks}`;
}

export function registerFleetView(fleet: Command, session: Session): void {
  const view = () => fleetView(session.config().config, session.store(), Date.now());
  fleet
    .command('ls')
    .description('every node heard from: version per track, health, error rate, apply state, last heartbeat')
    .option('--json', 'print JSON')
    .action(action(session, async (opts: { json?: boolean }) => {
      const v = view();
      if (opts.json) return void printJson({ ok: true, ...v });
      if (v.nodes.length === 0) return void say('no heartbeats heard yet: is `upshift daemon` running, and has any node joined?');
      for (const n of v.nodes) say(oneLine(line(n)));
    }));

  fleet
    .command('health')
    .description('exit 0 when every node is heard, healthy and on the held manifest; else list what is wrong and exit 1')
    .option('--json', 'print JSON')
    .action(action(session, async (opts: { json?: boolean }) => {
      const v = view();
      const problems = fleetProblems(v);
      const healthy = v.nodes.length - new Set(problems.map((p) => p.node)).size;
      if (opts.json) printJson({ ok: problems.length === 0, nodes: v.nodes.length, healthy, held: v.held, problems });
      else if (problems.length === 0) say(`${v.nodes.length} node(s) heard, all healthy and on the held manifest (${Object.entries(v.held).map(([t, s]) => `${t} #${s ?? '-'}`).join(', ')})`);
      else {
        say(`${healthy} of ${v.nodes.length} node(s) fine; problems:`);
        for (const p of problems) say(oneLine(`  ${p.node}: ${p.problem}`));
      }
      return problems.length === 0 ? 0 : 1;
    }));
}
