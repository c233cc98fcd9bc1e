// The fleet as this node has heard it, for `fleet ls|health` and the agent tools: reads only,
// apart from services/fleet.ts (tokens, certificates) so these commands load no trust code.
import { fleetProblems, fleetView, type FleetView } from '../runtime/fleet-view.js';
import type { Outcome, ServiceContext } from './context.js';

/** Every node heard: version per track, health, error rate, apply state, last heartbeat. */
export async function listFleet(ctx: ServiceContext): Promise<Outcome<FleetView>> {
  const view = await fleetView(ctx.config, ctx.store, ctx.clock.now());
  const reason = view.nodes.length ? `${view.nodes.length} node(s) heard` : 'no heartbeats heard yet: is `upshift daemon` running, and has any node joined?';
  return { reason, evidence: view };
}

export interface FleetHealth {
  ok: boolean;
  nodes: number;
  healthy: number;
  held: FleetView['held'];
  problems: Array<{ node: string; problem: string }>;
}

/** Whether every node is heard, healthy and on what targets it; what is wrong otherwise. */
export async function fleetHealth(ctx: ServiceContext): Promise<Outcome<FleetHealth>> {
  const view = await fleetView(ctx.config, ctx.store, ctx.clock.now());
  const problems = fleetProblems(view);
  // nothing heard proves nothing: a fleet with no heartbeats is not healthy
  if (view.nodes.length === 0) problems.push({ node: '-', problem: 'no node heard yet: is `upshift daemon` running, and has any node joined?' });
  const healthy = view.nodes.length - new Set(problems.filter((p) => p.node !== '-').map((p) => p.node)).size;
  const tracks = Object.entries(view.held);
  const held = tracks.filter(([, s]) => s !== null).map(([t, s]) => `${t} #${s}`);
  const none = tracks.filter(([, s]) => s === null).map(([t]) => t);
  const reason = problems.length === 0
    ? `${view.nodes.length} node(s) heard, all healthy${held.length ? ` and on the held manifest (${held.join(', ')})` : ''}`
      + `${none.length ? `; nothing released yet on ${none.join(', ')}` : ''}`
    : `${healthy} of ${view.nodes.length} node(s) fine; ${problems.length} problem(s)`;
  return { reason, evidence: { ok: problems.length === 0, nodes: view.nodes.length, healthy, held: view.held, problems } };
}
