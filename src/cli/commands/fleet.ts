// `upshift fleet ls|health`: the fleet as this node has heard it (on the authority: every
// node). `health` exits 1 when a node is silent, unhealthy or behind, so a script can act.
import type { Command } from 'commander';
import type { FleetNodeView } from '../../runtime/fleet-view.js';
import { fleetHealth, listFleet } from '../../services/fleet-read.js';
import { oneLine, shortVersion } from '../render.js';
import { action, printJson, say, type Session } from '../shared.js';

function line(n: FleetNodeView): string {
  const tracks = Object.entries(n.tracks).map(([track, t]) => `${track} ${t.version ? shortVersion(t.version) : '-'} #${t.seq ?? '-'} ${t.state}${t.role ? ` (${t.role})` : ''}${t.behind ? ' (behind)' : ''}`).join('; ') || 'no app';
  const labels = Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-';
  const rate = n.error_rate === null ? '-' : n.error_rate.toFixed(3);
  const heard = `${Math.round(n.age_ms / 1000)}s ago${n.silent ? ' (silent)' : ''}`;
  return `${n.node.padEnd(16)} ${labels.padEnd(14)} ${n.health.padEnd(8)} errors ${rate.padEnd(6)} heard ${heard.padEnd(16)} via ${(n.channel ?? '-').padEnd(6)} ${n.member ?? '-'}${n.revoked ? ' REVOKED' : ''}  ${tracks}`;
}

export function registerFleetView(fleet: Command, session: Session): void {
  fleet
    .command('ls')
    .description('every node heard from: version per track, health, error rate, apply state, last heartbeat')
    .option('--json', 'print JSON')
    .action(action(session, async (opts: { json?: boolean }) => {
      const r = await listFleet(session.context());
      if (opts.json) return void printJson({ ok: true, ...r.evidence });
      if (r.evidence.nodes.length === 0) return void say(r.reason);
      for (const n of r.evidence.nodes) say(oneLine(line(n)));
    }));

  fleet
    .command('health')
    .description('exit 0 when every node is heard, healthy and on the held manifest; else list what is wrong and exit 1')
    .option('--json', 'print JSON')
    .action(action(session, async (opts: { json?: boolean }) => {
      const r = await fleetHealth(session.context());
      const h = r.evidence;
      if (opts.json) printJson(h);
      else {
        say(r.reason);
        for (const p of h.problems) say(oneLine(`  ${p.node}: ${p.problem}`));
      }
      return h.ok ? 0 : 1;
    }));
}
