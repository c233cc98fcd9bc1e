// Deployments over PostgreSQL (migration 3), as adapters/sqlite/deployments.ts: the history
// of every key, rollout state changed only by compare-and-set on `rev`, append-only events
// and the manifests each step signs from the track's one seq line (seq-line.ts).
import { UpshiftError } from '../../core/errors.js';
import {
  ACTIVE_STATUSES, type Deployment, type DeploymentEvent, type DeploymentManifest, type DeploymentStatus, type NewDeployment,
} from '../../core/deployment-records.js';
import type { DeploymentAdvance, DeploymentPlan, DeploymentReservation, DeploymentStore } from '../../core/store-ports.js';
import type { PgSession, Queryable } from './session.js';
import { lockXact, nextManifestSeq, num, numOrNull } from './seq-line.js';

type Row = Record<string, unknown>;
const json = <T>(v: unknown): T => JSON.parse(v as string) as T;

const toDeployment = (r: Row): Deployment => ({
  id: r.id as string, key: r.key as string, number: r.number as number, track: r.track as string, runId: (r.run_id as string | null) ?? null,
  kind: r.kind as Deployment['kind'],
  source: r.source_commit ? { version: r.source_version as string, commit: r.source_commit as string } : null,
  target: {
    version: r.target_version as string, commit: r.target_commit as string, code_hash: r.target_code_hash as string, run: r.target_run as string,
    number: r.number as number,
  },
  strategy: r.strategy as Deployment['strategy'], policy: json(r.policy), urgent: r.urgent === true,
  status: r.status as DeploymentStatus, state: json(r.state), health: json(r.health),
  rollbackTarget: r.rollback_target ? json(r.rollback_target) : null, rollbackOf: (r.rollback_of as number | null) ?? null,
  reason: (r.reason as string | null) ?? null, rev: r.rev as number,
  createdAt: num(r.created_at), updatedAt: num(r.updated_at), finishedAt: numOrNull(r.finished_at),
});

const toEvent = (r: Row): DeploymentEvent => ({
  seq: num(r.seq), deploymentId: (r.deployment_id as string | null) ?? null, at: num(r.at), kind: r.kind as string,
  actor: r.actor as string, outcome: r.outcome as string, data: json(r.data),
});

const toManifest = (r: Row): DeploymentManifest => ({
  deploymentId: r.deployment_id as string, step: r.step as string, track: r.track as string, seq: num(r.seq),
  targets: json(r.targets), payload: new Uint8Array(r.payload as Buffer), envelope: (r.envelope as string | null) ?? null,
});

async function one(q: Queryable, sql: string, args: unknown[]): Promise<Deployment | null> {
  const r = (await q.query<Row>(sql, args)).rows[0];
  return r ? toDeployment(r) : null;
}

async function manifestIn(q: Queryable, deploymentId: string, step: string): Promise<DeploymentManifest | null> {
  const r = (await q.query<Row>('SELECT * FROM deployment_manifests WHERE deployment_id = $1 AND step = $2', [deploymentId, step])).rows[0];
  return r ? toManifest(r) : null;
}

/** The step's stored record, or the track's next seq with the bytes `build` makes for it. */
async function reserveIn(q: Queryable, r: DeploymentReservation): Promise<DeploymentManifest> {
  await lockXact(q, `seq:${r.track}`); // before the lookup: the same step asked twice at once gets one record
  const existing = await manifestIn(q, r.deploymentId, r.step);
  if (existing) return existing;
  const seq = await nextManifestSeq(q, r.track);
  await q.query('INSERT INTO deployment_manifests (deployment_id, step, track, seq, targets, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [r.deploymentId, r.step, r.track, seq, JSON.stringify(r.targets), Buffer.from(r.build(seq)), r.at]);
  return (await manifestIn(q, r.deploymentId, r.step)) as DeploymentManifest;
}

/** Compare-and-set on `rev`; `finished` statuses also stamp finished_at once. */
async function updateIn(q: Queryable, id: string, rev: number, patch: DeploymentAdvance['patch'], at: number): Promise<boolean> {
  const cur = await one(q, 'SELECT * FROM deployments WHERE id = $1', [id]);
  if (!cur) throw new UpshiftError('E_DEPLOY_NOT_FOUND', `no deployment with id "${id}"`);
  const status = patch.status ?? cur.status;
  const finished = !ACTIVE_STATUSES.includes(status);
  const res = await q.query(`UPDATE deployments SET status = $1, state = $2, health = $3, reason = $4, rev = rev + 1, updated_at = $5,
    finished_at = CASE WHEN $6::boolean THEN COALESCE(finished_at, $5) ELSE NULL END WHERE id = $7 AND rev = $8`, [
    status, JSON.stringify(patch.state ?? cur.state), JSON.stringify(patch.health ?? cur.health),
    patch.reason === undefined ? cur.reason : patch.reason, at, finished, id, rev]);
  return res.rowCount === 1;
}

async function appendEventIn(q: Queryable, e: Omit<DeploymentEvent, 'seq'>): Promise<void> {
  await q.query('INSERT INTO deployment_events (deployment_id, at, kind, actor, outcome, data) VALUES ($1, $2, $3, $4, $5, $6)',
    [e.deploymentId, e.at, e.kind, e.actor, e.outcome, JSON.stringify(e.data)]);
}

export class PgDeployments implements DeploymentStore {
  constructor(private readonly session: PgSession, readonly now: () => number) {}

  /** The key's next number under the key's lock, so two creates never pick the same one. */
  async create(d: NewDeployment): Promise<Deployment> {
    return this.session.write(async (q) => {
      await lockXact(q, `deployments:${d.key}`);
      const max = (await q.query<{ n: number | null }>('SELECT MAX(number) AS n FROM deployments WHERE key = $1', [d.key])).rows[0]?.n ?? null;
      await q.query(`INSERT INTO deployments (id, key, number, track, run_id, kind, source_version, source_commit, target_version, target_commit,
        target_code_hash, target_run, strategy, policy, urgent, status, state, health, rollback_target, rollback_of, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, '{}', $18, $19, $20, $20)`, [
        d.id, d.key, (max ?? 0) + 1, d.track, d.runId, d.kind, d.source?.version ?? null, d.source?.commit ?? null, d.target.version, d.target.commit,
        d.target.code_hash, d.target.run, d.strategy, JSON.stringify(d.policy), d.urgent, d.status, JSON.stringify(d.state),
        d.rollbackTarget ? JSON.stringify(d.rollbackTarget) : null, d.rollbackOf, d.createdAt]);
      return (await one(q, 'SELECT * FROM deployments WHERE id = $1', [d.id])) as Deployment;
    });
  }

  async get(id: string): Promise<Deployment | null> {
    return this.session.read((q) => one(q, 'SELECT * FROM deployments WHERE id = $1', [id]));
  }

  async byNumber(key: string, number: number): Promise<Deployment | null> {
    return this.session.read((q) => one(q, 'SELECT * FROM deployments WHERE key = $1 AND number = $2', [key, number]));
  }

  async forRun(runId: string): Promise<Deployment | null> {
    return this.session.read((q) => one(q, 'SELECT * FROM deployments WHERE run_id = $1', [runId]));
  }

  async list(opts: { key?: string; limit?: number } = {}): Promise<Deployment[]> {
    return this.session.read(async (q) => {
      const { rows } = opts.key
        ? await q.query<Row>('SELECT * FROM deployments WHERE key = $1 ORDER BY created_at DESC, number DESC LIMIT $2', [opts.key, opts.limit ?? 50])
        : await q.query<Row>('SELECT * FROM deployments ORDER BY created_at DESC, number DESC LIMIT $1', [opts.limit ?? 50]);
      return rows.map(toDeployment);
    });
  }

  async active(): Promise<Deployment[]> {
    return this.session.read(async (q) => (await q.query<Row>(
      "SELECT * FROM deployments WHERE status IN ('running','paused','waiting_promote') ORDER BY created_at")).rows.map(toDeployment));
  }

  async lastSucceeded(track: string, exceptId = ''): Promise<Deployment | null> {
    // SQLite sorts NULL first in DESC; a succeeded deployment always has finished_at, so no matter
    return this.session.read((q) => one(q, `SELECT * FROM deployments WHERE track = $1 AND status = 'succeeded' AND id != $2
      ORDER BY finished_at DESC NULLS LAST, number DESC LIMIT 1`, [track, exceptId]));
  }

  async update(id: string, rev: number, patch: DeploymentAdvance['patch'], at: number): Promise<boolean> {
    return this.session.write((q) => updateIn(q, id, rev, patch, at));
  }

  async appendEvent(e: Omit<DeploymentEvent, 'seq'>): Promise<void> {
    await this.session.write((q) => appendEventIn(q, e));
  }

  async events(deploymentId: string): Promise<DeploymentEvent[]> {
    return this.session.read(async (q) => (await q.query<Row>(
      'SELECT * FROM deployment_events WHERE deployment_id = $1 ORDER BY seq', [deploymentId])).rows.map(toEvent));
  }

  async allEvents(limit = 200): Promise<DeploymentEvent[]> {
    return this.session.read(async (q) => (await q.query<Row>('SELECT * FROM deployment_events ORDER BY seq DESC LIMIT $1', [limit])).rows.map(toEvent));
  }

  async manifest(deploymentId: string, step: string): Promise<DeploymentManifest | null> {
    return this.session.read((q) => manifestIn(q, deploymentId, step));
  }

  async manifests(deploymentId: string): Promise<DeploymentManifest[]> {
    return this.session.read(async (q) => (await q.query<Row>(
      'SELECT * FROM deployment_manifests WHERE deployment_id = $1 ORDER BY seq', [deploymentId])).rows.map(toManifest));
  }

  async reserveManifest(r: DeploymentReservation): Promise<DeploymentManifest> {
    return this.session.write((q) => reserveIn(q, r));
  }

  /**
   * One step in one transaction: the row is locked first, so a concurrent step waits and then
   * finds the rev moved. `plan` is synchronous, so its reservations are collected and made after.
   */
  async advance(id: string, rev: number, at: number, plan: DeploymentPlan): Promise<boolean> {
    return this.session.write(async (q) => {
      const cur = await one(q, 'SELECT * FROM deployments WHERE id = $1 FOR UPDATE', [id]);
      if (!cur) throw new UpshiftError('E_DEPLOY_NOT_FOUND', `no deployment with id "${id}"`);
      if (cur.rev !== rev) return false; // changed since read: the caller reads again, nothing reserved
      const planned = await planWithReservations(q, id, plan);
      if (!(await updateIn(q, id, rev, planned.patch, at))) return false;
      if (planned.event) await appendEventIn(q, { ...planned.event, deploymentId: id, at });
      return true;
    });
  }

  async maxSeq(track: string): Promise<number | null> {
    return this.session.read(async (q) =>
      numOrNull((await q.query<{ s: string | null }>('SELECT MAX(seq) AS s FROM deployment_manifests WHERE track = $1', [track])).rows[0]?.s));
  }

  async setEnvelope(deploymentId: string, step: string, envelope: string): Promise<void> {
    await this.session.write((q) => q.query('UPDATE deployment_manifests SET envelope = $1 WHERE deployment_id = $2 AND step = $3',
      [envelope, deploymentId, step]));
  }
}

/**
 * Run a step's synchronous plan with the async database behind it: the deployment's track
 * is locked and its next seq and the deployment's stored manifests are read first, so
 * `reserve` answers at once (a step reserved before gets its record back, as SQLite's); the
 * new reservations are inserted after `plan` returns, in the same transaction. A plan that
 * throws inserts nothing. A reservation on another track than the deployment's is refused.
 */
async function planWithReservations(q: Queryable, id: string, plan: DeploymentPlan): Promise<DeploymentAdvance> {
  const track = ((await q.query<{ track: string }>('SELECT track FROM deployments WHERE id = $1', [id])).rows[0] as { track: string }).track;
  let next = await nextManifestSeq(q, track);
  const stored = new Map<string, DeploymentManifest>();
  for (const r of (await q.query<Row>('SELECT * FROM deployment_manifests WHERE deployment_id = $1', [id])).rows) {
    stored.set(r.step as string, toManifest(r));
  }
  const fresh: Array<{ m: DeploymentManifest; at: number }> = [];
  const advance = plan((r) => {
    if (r.track !== track) {
      throw new UpshiftError('E_INTERNAL', `deployment ${id} of track ${track} cannot reserve a manifest on track ${r.track}`);
    }
    const held = stored.get(r.step);
    if (held) return held;
    const seq = next++;
    const m: DeploymentManifest = {
      deploymentId: id, step: r.step, track, seq, targets: r.targets, payload: new Uint8Array(r.build(seq)), envelope: null,
    };
    stored.set(r.step, m);
    fresh.push({ m, at: r.at });
    return m;
  });
  for (const { m, at } of fresh) {
    await q.query('INSERT INTO deployment_manifests (deployment_id, step, track, seq, targets, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [id, m.step, m.track, m.seq, JSON.stringify(m.targets), Buffer.from(m.payload), at]);
  }
  return advance;
}
