// Deployments over PostgreSQL (migration 3), as adapters/sqlite/deployments.ts: the history
// of every key, rollout state changed only by compare-and-set on `rev`, append-only events
// and the manifests each step signs from the track's one seq line (sql.ts). Each method is
// one read or one write transaction (the statements are in deployment-rows.ts).
import { UpshiftError } from '../../core/errors.js';
import type { Deployment, DeploymentEvent, DeploymentManifest, NewDeployment } from '../../core/deployment-records.js';
import type { DeploymentAdvance, DeploymentPlan, DeploymentReservation, DeploymentStore } from '../../core/store-ports.js';
import type { PgSession } from './session.js';
import { first, lockXact, numOrNull, rows } from './sql.js';
import {
  appendEventIn, deploymentIn, manifestIn, planWithReservations, reserveIn, toDeployment, toEvent, toManifest, updateIn,
} from './deployment-rows.js';

const INSERT = `INSERT INTO deployments (id, key, number, track, run_id, kind, source_version, source_commit,
    target_version, target_commit, target_code_hash, target_run, strategy, policy, urgent, status, state, health,
    rollback_target, rollback_of, created_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, '{}', $18, $19, $20, $20)`;
const ACTIVE = "SELECT * FROM deployments WHERE status IN ('running','paused','waiting_promote') ORDER BY created_at";

export class PgDeployments implements DeploymentStore {
  constructor(private readonly session: PgSession, readonly now: () => number) {}

  /** The key's next number, under the key's lock so two creates never pick the same one. */
  async create(d: NewDeployment): Promise<Deployment> {
    return this.session.write(async (q) => {
      await lockXact(q, `deployments:${d.key}`);
      const max = ((await first(q, 'SELECT MAX(number) AS n FROM deployments WHERE key = $1', [d.key]))?.n as number | null) ?? 0;
      await q.query(INSERT, [
        d.id, d.key, max + 1, d.track, d.runId, d.kind, d.source?.version ?? null, d.source?.commit ?? null,
        d.target.version, d.target.commit, d.target.code_hash, d.target.run, d.strategy, JSON.stringify(d.policy), d.urgent,
        d.status, JSON.stringify(d.state), d.rollbackTarget ? JSON.stringify(d.rollbackTarget) : null, d.rollbackOf, d.createdAt]);
      return (await deploymentIn(q, 'SELECT * FROM deployments WHERE id = $1', [d.id])) as Deployment;
    });
  }

  async get(id: string): Promise<Deployment | null> {
    return this.session.read((q) => deploymentIn(q, 'SELECT * FROM deployments WHERE id = $1', [id]));
  }

  async byNumber(key: string, number: number): Promise<Deployment | null> {
    return this.session.read((q) => deploymentIn(q, 'SELECT * FROM deployments WHERE key = $1 AND number = $2', [key, number]));
  }

  async forRun(runId: string): Promise<Deployment | null> {
    return this.session.read((q) => deploymentIn(q, 'SELECT * FROM deployments WHERE run_id = $1', [runId]));
  }

  /** Newest first; optionally one key's. */
  async list(opts: { key?: string; limit?: number } = {}): Promise<Deployment[]> {
    const order = 'ORDER BY created_at DESC, number DESC';
    const found = await this.session.read((q) => (opts.key
      ? rows(q, `SELECT * FROM deployments WHERE key = $1 ${order} LIMIT $2`, [opts.key, opts.limit ?? 50])
      : rows(q, `SELECT * FROM deployments ${order} LIMIT $1`, [opts.limit ?? 50])));
    return found.map(toDeployment);
  }

  async active(): Promise<Deployment[]> {
    return (await this.session.read((q) => rows(q, ACTIVE))).map(toDeployment);
  }

  /** A succeeded deployment always has finished_at, so NULLs (first in SQLite's DESC) never meet. */
  async lastSucceeded(track: string, exceptId = ''): Promise<Deployment | null> {
    return this.session.read((q) => deploymentIn(q, `SELECT * FROM deployments WHERE track = $1 AND status = 'succeeded'
      AND id != $2 ORDER BY finished_at DESC NULLS LAST, number DESC LIMIT 1`, [track, exceptId]));
  }

  async update(id: string, rev: number, patch: DeploymentAdvance['patch'], at: number): Promise<boolean> {
    return this.session.write((q) => updateIn(q, id, rev, patch, at));
  }

  async appendEvent(e: Omit<DeploymentEvent, 'seq'>): Promise<void> {
    await this.session.write((q) => appendEventIn(q, e));
  }

  async events(deploymentId: string): Promise<DeploymentEvent[]> {
    const found = await this.session.read((q) => rows(q, 'SELECT * FROM deployment_events WHERE deployment_id = $1 ORDER BY seq',
      [deploymentId]));
    return found.map(toEvent);
  }

  /** Refused control actions too: every one is in the audit trail, with or without a deployment. */
  async allEvents(limit = 200): Promise<DeploymentEvent[]> {
    return (await this.session.read((q) => rows(q, 'SELECT * FROM deployment_events ORDER BY seq DESC LIMIT $1', [limit]))).map(toEvent);
  }

  async manifest(deploymentId: string, step: string): Promise<DeploymentManifest | null> {
    return this.session.read((q) => manifestIn(q, deploymentId, step));
  }

  async manifests(deploymentId: string): Promise<DeploymentManifest[]> {
    const found = await this.session.read((q) => rows(q, 'SELECT * FROM deployment_manifests WHERE deployment_id = $1 ORDER BY seq',
      [deploymentId]));
    return found.map(toManifest);
  }

  async reserveManifest(r: DeploymentReservation): Promise<DeploymentManifest> {
    return this.session.write((q) => reserveIn(q, r));
  }

  /** One step in one transaction; the row is locked first, so a concurrent step waits and then finds the rev moved. */
  async advance(id: string, rev: number, at: number, plan: DeploymentPlan): Promise<boolean> {
    return this.session.write(async (q) => {
      const cur = await deploymentIn(q, 'SELECT * FROM deployments WHERE id = $1 FOR UPDATE', [id]);
      if (!cur) throw new UpshiftError('E_DEPLOY_NOT_FOUND', `no deployment with id "${id}"`);
      if (cur.rev !== rev) return false; // changed since read: the caller reads again, nothing reserved
      const { patch, event } = await planWithReservations(q, cur, plan);
      if (!(await updateIn(q, id, rev, patch, at))) return false;
      if (event) await appendEventIn(q, { ...event, deploymentId: id, at });
      return true;
    });
  }

  /** The highest seq any deployment signed on a track, or null. */
  async maxSeq(track: string): Promise<number | null> {
    const r = await this.session.read((q) => first(q, 'SELECT MAX(seq) AS s FROM deployment_manifests WHERE track = $1', [track]));
    return numOrNull(r?.s);
  }

  async setEnvelope(deploymentId: string, step: string, envelope: string): Promise<void> {
    await this.session.write((q) => q.query('UPDATE deployment_manifests SET envelope = $1 WHERE deployment_id = $2 AND step = $3',
      [envelope, deploymentId, step]));
  }
}
