// The rows of PostgreSQL's deployment tables and the statements a deployment's write
// transaction is made of (deployments.ts): reserve a step's manifest, compare-and-set on
// `rev`, append an event, and run a step's synchronous plan with its reservations.
import { UpshiftError } from '../../core/errors.js';
import {
  ACTIVE_STATUSES, type Deployment, type DeploymentEvent, type DeploymentManifest, type DeploymentStatus,
} from '../../core/deployment-records.js';
import type { DeploymentAdvance, DeploymentPlan, DeploymentReservation } from '../../core/store-ports.js';
import type { Queryable } from './session.js';
import { first, lockXact, nextManifestSeq, num, numOrNull, rows, type Row } from './sql.js';

const json = <T>(v: unknown): T => JSON.parse(v as string) as T;

export const toDeployment = (r: Row): Deployment => ({
  id: r.id as string, key: r.key as string, number: r.number as number, track: r.track as string,
  runId: (r.run_id as string | null) ?? null, kind: r.kind as Deployment['kind'],
  source: r.source_commit ? { version: r.source_version as string, commit: r.source_commit as string } : null,
  target: {
    version: r.target_version as string, commit: r.target_commit as string, code_hash: r.target_code_hash as string,
    run: r.target_run as string, number: r.number as number,
  },
  strategy: r.strategy as Deployment['strategy'], policy: json(r.policy), urgent: r.urgent === true,
  status: r.status as DeploymentStatus, state: json(r.state), health: json(r.health),
  rollbackTarget: r.rollback_target ? json(r.rollback_target) : null, rollbackOf: (r.rollback_of as number | null) ?? null,
  reason: (r.reason as string | null) ?? null, rev: r.rev as number,
  createdAt: num(r.created_at), updatedAt: num(r.updated_at), finishedAt: numOrNull(r.finished_at),
});

export const toEvent = (r: Row): DeploymentEvent => ({
  seq: num(r.seq), deploymentId: (r.deployment_id as string | null) ?? null, at: num(r.at), kind: r.kind as string,
  actor: r.actor as string, outcome: r.outcome as string, data: json(r.data),
});

export const toManifest = (r: Row): DeploymentManifest => ({
  deploymentId: r.deployment_id as string, step: r.step as string, track: r.track as string, seq: num(r.seq),
  targets: json(r.targets), payload: new Uint8Array(r.payload as Buffer), envelope: (r.envelope as string | null) ?? null,
});

export async function deploymentIn(q: Queryable, sql: string, args: unknown[]): Promise<Deployment | null> {
  const r = await first(q, sql, args);
  return r ? toDeployment(r) : null;
}

export async function manifestIn(q: Queryable, deploymentId: string, step: string): Promise<DeploymentManifest | null> {
  const r = await first(q, 'SELECT * FROM deployment_manifests WHERE deployment_id = $1 AND step = $2', [deploymentId, step]);
  return r ? toManifest(r) : null;
}

async function insertManifest(q: Queryable, m: Omit<DeploymentManifest, 'envelope'>, at: number): Promise<void> {
  await q.query(`INSERT INTO deployment_manifests (deployment_id, step, track, seq, targets, payload, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)`, [m.deploymentId, m.step, m.track, m.seq, JSON.stringify(m.targets), Buffer.from(m.payload), at]);
}

/** The step's stored record, or the track's next seq with the bytes `build` makes for it. */
export async function reserveIn(q: Queryable, r: DeploymentReservation): Promise<DeploymentManifest> {
  await lockXact(q, `seq:${r.track}`); // before the lookup: the same step asked twice at once gets one record
  const existing = await manifestIn(q, r.deploymentId, r.step);
  if (existing) return existing;
  const seq = await nextManifestSeq(q, r.track);
  await insertManifest(q, { deploymentId: r.deploymentId, step: r.step, track: r.track, seq, targets: r.targets, payload: r.build(seq) }, r.at);
  return (await manifestIn(q, r.deploymentId, r.step)) as DeploymentManifest;
}

/** Compare-and-set on `rev`; a finished status also stamps finished_at once. */
export async function updateIn(q: Queryable, id: string, rev: number, patch: DeploymentAdvance['patch'], at: number): Promise<boolean> {
  const cur = await deploymentIn(q, 'SELECT * FROM deployments WHERE id = $1', [id]);
  if (!cur) throw new UpshiftError('E_DEPLOY_NOT_FOUND', `no deployment with id "${id}"`);
  const status = patch.status ?? cur.status;
  const finished = !ACTIVE_STATUSES.includes(status);
  const res = await q.query(`UPDATE deployments SET status = $1, state = $2, health = $3, reason = $4, rev = rev + 1,
    updated_at = $5, finished_at = CASE WHEN $6::boolean THEN COALESCE(finished_at, $5) ELSE NULL END
    WHERE id = $7 AND rev = $8`, [
    status, JSON.stringify(patch.state ?? cur.state), JSON.stringify(patch.health ?? cur.health),
    patch.reason === undefined ? cur.reason : patch.reason, at, finished, id, rev]);
  return res.rowCount === 1;
}

export async function appendEventIn(q: Queryable, e: Omit<DeploymentEvent, 'seq'>): Promise<void> {
  await q.query('INSERT INTO deployment_events (deployment_id, at, kind, actor, outcome, data) VALUES ($1, $2, $3, $4, $5, $6)',
    [e.deploymentId, e.at, e.kind, e.actor, e.outcome, JSON.stringify(e.data)]);
}

/**
 * Run a step's synchronous plan with the async database behind it: the deployment's track
 * is locked and its next seq and the deployment's stored manifests are read first, so
 * `reserve` answers at once (a step reserved before gets its record back, as SQLite's); the
 * new reservations are inserted after `plan` returns, in the same transaction. A plan that
 * throws inserts nothing. A reservation on another track than the deployment's is refused.
 */
export async function planWithReservations(q: Queryable, d: Deployment, plan: DeploymentPlan): Promise<DeploymentAdvance> {
  let next = await nextManifestSeq(q, d.track);
  const stored = new Map<string, DeploymentManifest>();
  for (const r of await rows(q, 'SELECT * FROM deployment_manifests WHERE deployment_id = $1', [d.id])) {
    stored.set(r.step as string, toManifest(r));
  }
  const fresh: Array<{ m: DeploymentManifest; at: number }> = [];
  const advance = plan((r) => {
    if (r.track !== d.track) {
      throw new UpshiftError('E_INTERNAL', `deployment ${d.id} of track ${d.track} cannot reserve a manifest on track ${r.track}`);
    }
    const held = stored.get(r.step);
    if (held) return held;
    const seq = next++;
    const m: DeploymentManifest = {
      deploymentId: d.id, step: r.step, track: d.track, seq, targets: r.targets, payload: new Uint8Array(r.build(seq)), envelope: null,
    };
    stored.set(r.step, m);
    fresh.push({ m, at: r.at });
    return m;
  });
  for (const { m, at } of fresh) await insertManifest(q, m, at);
  return advance;
}
