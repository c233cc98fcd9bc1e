// Deployments as the store keeps them (migration 9): the history of every deployment key,
// each version's rollout state (changed only by compare-and-set on `rev`, so two drivers
// or a driver and an operator never both act on the same state), its append-only events
// and the manifests it signs from the track's one seq line.
import { UpshiftError } from '../../core/errors.js';
import {
  ACTIVE_STATUSES, type Deployment, type DeploymentEvent, type DeploymentManifest, type DeploymentStatus, type HealthSummary, type NewDeployment,
} from '../../core/deployment-records.js';
import type { RolloutState } from '../../core/decisions/rollout.js';
import type { DeploymentPlan } from '../../core/store-ports.js';
import type { Db } from './db.js';
import { nextManifestSeq } from './records.js';

export {
  ACTIVE_STATUSES, type Deployment, type DeploymentEvent, type DeploymentManifest, type DeploymentStatus, type HealthSummary, type NewDeployment,
  type ReleaseRef,
} from '../../core/deployment-records.js';

type Row = Record<string, unknown>;
const json = <T>(v: unknown): T => JSON.parse(v as string) as T;

const toDeployment = (r: Row): Deployment => ({
  id: r.id as string, key: r.key as string, number: r.number as number, track: r.track as string, runId: (r.run_id as string | null) ?? null,
  kind: r.kind as Deployment['kind'],
  source: r.source_commit ? { version: r.source_version as string, commit: r.source_commit as string } : null,
  target: { version: r.target_version as string, commit: r.target_commit as string, code_hash: r.target_code_hash as string, run: r.target_run as string, number: r.number as number },
  strategy: r.strategy as Deployment['strategy'], policy: json(r.policy), urgent: r.urgent === 1,
  status: r.status as DeploymentStatus, state: json(r.state), health: json(r.health),
  rollbackTarget: r.rollback_target ? json(r.rollback_target) : null, rollbackOf: (r.rollback_of as number | null) ?? null,
  reason: (r.reason as string | null) ?? null, rev: r.rev as number,
  createdAt: r.created_at as number, updatedAt: r.updated_at as number, finishedAt: (r.finished_at as number | null) ?? null,
});


export class DeploymentTable {
  constructor(private readonly db: Db) {}

  /** Insert with the key's next version number; returns the stored deployment. */
  create(d: NewDeployment): Deployment {
    return this.db.transaction(() => {
      const max = this.db.prepare('SELECT MAX(number) FROM deployments WHERE key = ?').pluck().get(d.key) as number | null;
      this.db.prepare(`INSERT INTO deployments (id, key, number, track, run_id, kind, source_version, source_commit, target_version, target_commit,
        target_code_hash, target_run, strategy, policy, urgent, status, state, health, rollback_target, rollback_of, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?)`).run(
        d.id, d.key, (max ?? 0) + 1, d.track, d.runId, d.kind, d.source?.version ?? null, d.source?.commit ?? null, d.target.version, d.target.commit,
        d.target.code_hash, d.target.run, d.strategy, JSON.stringify(d.policy), d.urgent ? 1 : 0, d.status, JSON.stringify(d.state),
        d.rollbackTarget ? JSON.stringify(d.rollbackTarget) : null, d.rollbackOf, d.createdAt, d.createdAt);
      return this.get(d.id) as Deployment;
    }).immediate();
  }

  get(id: string): Deployment | null {
    const r = this.db.prepare('SELECT * FROM deployments WHERE id = ?').get(id) as Row | undefined;
    return r ? toDeployment(r) : null;
  }

  byNumber(key: string, number: number): Deployment | null {
    const r = this.db.prepare('SELECT * FROM deployments WHERE key = ? AND number = ?').get(key, number) as Row | undefined;
    return r ? toDeployment(r) : null;
  }

  forRun(runId: string): Deployment | null {
    const r = this.db.prepare('SELECT * FROM deployments WHERE run_id = ?').get(runId) as Row | undefined;
    return r ? toDeployment(r) : null;
  }

  /** Newest first; optionally one key's. */
  list(opts: { key?: string; limit?: number } = {}): Deployment[] {
    const rows = opts.key
      ? this.db.prepare('SELECT * FROM deployments WHERE key = ? ORDER BY created_at DESC, number DESC LIMIT ?').all(opts.key, opts.limit ?? 50)
      : this.db.prepare('SELECT * FROM deployments ORDER BY created_at DESC, number DESC LIMIT ?').all(opts.limit ?? 50);
    return (rows as Row[]).map(toDeployment);
  }

  active(): Deployment[] {
    return (this.db.prepare("SELECT * FROM deployments WHERE status IN ('running','paused','waiting_promote') ORDER BY created_at").all() as Row[]).map(toDeployment);
  }

  /** The newest deployment of a track that succeeded: what a revert returns to. */
  lastSucceeded(track: string, exceptId = ''): Deployment | null {
    const r = this.db.prepare("SELECT * FROM deployments WHERE track = ? AND status = 'succeeded' AND id != ? ORDER BY finished_at DESC, number DESC LIMIT 1")
      .get(track, exceptId) as Row | undefined;
    return r ? toDeployment(r) : null;
  }

  /**
   * Change a deployment's progress if nobody changed it since `rev` was read; false when
   * somebody did (the caller reads again). `finished` also stamps finished_at.
   */
  update(id: string, rev: number, patch: { status?: DeploymentStatus; state?: RolloutState; health?: HealthSummary; reason?: string | null }, at: number): boolean {
    const cur = this.get(id);
    if (!cur) throw new UpshiftError('E_DEPLOY_NOT_FOUND', `no deployment with id "${id}"`);
    const status = patch.status ?? cur.status;
    const finished = !ACTIVE_STATUSES.includes(status);
    const res = this.db.prepare(`UPDATE deployments SET status = ?, state = ?, health = ?, reason = ?, rev = rev + 1, updated_at = ?,
      finished_at = CASE WHEN ? THEN COALESCE(finished_at, ?) ELSE NULL END WHERE id = ? AND rev = ?`).run(
      status, JSON.stringify(patch.state ?? cur.state), JSON.stringify(patch.health ?? cur.health),
      patch.reason === undefined ? cur.reason : patch.reason, at, finished ? 1 : 0, at, id, rev);
    return res.changes === 1;
  }

  appendEvent(e: Omit<DeploymentEvent, 'seq'>): void {
    this.db.prepare('INSERT INTO deployment_events (deployment_id, at, kind, actor, outcome, data) VALUES (?, ?, ?, ?, ?, ?)')
      .run(e.deploymentId, e.at, e.kind, e.actor, e.outcome, JSON.stringify(e.data));
  }

  events(deploymentId: string): DeploymentEvent[] {
    const rows = this.db.prepare('SELECT * FROM deployment_events WHERE deployment_id = ? ORDER BY seq').all(deploymentId) as Row[];
    return rows.map((r) => ({
      seq: r.seq as number, deploymentId: r.deployment_id as string, at: r.at as number, kind: r.kind as string, actor: r.actor as string,
      outcome: r.outcome as string, data: json(r.data),
    }));
  }

  /** Refused control actions too: every one is in the audit trail, with or without a deployment. */
  allEvents(limit = 200): DeploymentEvent[] {
    const rows = this.db.prepare('SELECT * FROM deployment_events ORDER BY seq DESC LIMIT ?').all(limit) as Row[];
    return rows.map((r) => ({
      seq: r.seq as number, deploymentId: (r.deployment_id as string | null) ?? null, at: r.at as number, kind: r.kind as string,
      actor: r.actor as string, outcome: r.outcome as string, data: json(r.data),
    }));
  }

  manifest(deploymentId: string, step: string): DeploymentManifest | null {
    const r = this.db.prepare('SELECT * FROM deployment_manifests WHERE deployment_id = ? AND step = ?').get(deploymentId, step) as Row | undefined;
    return r ? toManifest(r) : null;
  }

  manifests(deploymentId: string): DeploymentManifest[] {
    return (this.db.prepare('SELECT * FROM deployment_manifests WHERE deployment_id = ? ORDER BY seq').all(deploymentId) as Row[]).map(toManifest);
  }

  /**
   * Reserve the track's next seq for one step of a deployment and fix its bytes, once; the
   * same step asked again gets the stored record. One seq line with the pipeline's manifests.
   */
  reserveManifest(r: { deploymentId: string; step: string; track: string; targets: 'all' | string[]; at: number; build: (seq: number) => Uint8Array }): DeploymentManifest {
    return this.db.transaction(() => this.reserveIn(r)).immediate();
  }

  private reserveIn(r: { deploymentId: string; step: string; track: string; targets: 'all' | string[]; at: number; build: (seq: number) => Uint8Array }): DeploymentManifest {
    const existing = this.manifest(r.deploymentId, r.step);
    if (existing) return existing;
    const seq = nextManifestSeq(this.db, r.track);
    this.db.prepare('INSERT INTO deployment_manifests (deployment_id, step, track, seq, targets, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(r.deploymentId, r.step, r.track, seq, JSON.stringify(r.targets), Buffer.from(r.build(seq)), r.at);
    return this.manifest(r.deploymentId, r.step) as DeploymentManifest;
  }

  /** One step in one transaction: reservations, the compare-and-set on `rev`, the event (store-ports.ts). */
  advance(id: string, rev: number, at: number, plan: DeploymentPlan): boolean {
    return this.db.transaction(() => {
      const cur = this.get(id);
      if (!cur) throw new UpshiftError('E_DEPLOY_NOT_FOUND', `no deployment with id "${id}"`);
      if (cur.rev !== rev) return false; // changed since read: the caller reads again, nothing reserved
      const { patch, event } = plan((r) => this.reserveIn({ ...r, deploymentId: id }));
      if (!this.update(id, rev, patch, at)) return false;
      if (event) this.appendEvent({ ...event, deploymentId: id, at });
      return true;
    }).immediate();
  }

  /** The highest seq any deployment signed on a track, or null. */
  maxSeq(track: string): number | null {
    return (this.db.prepare('SELECT MAX(seq) FROM deployment_manifests WHERE track = ?').pluck().get(track) as number | null) ?? null;
  }

  setEnvelope(deploymentId: string, step: string, envelope: string): void {
    this.db.prepare('UPDATE deployment_manifests SET envelope = ? WHERE deployment_id = ? AND step = ?').run(envelope, deploymentId, step);
  }
}

const toManifest = (r: Row): DeploymentManifest => ({
  deploymentId: r.deployment_id as string, step: r.step as string, track: r.track as string, seq: r.seq as number,
  targets: json(r.targets), payload: new Uint8Array(r.payload as Buffer), envelope: (r.envelope as string | null) ?? null,
});
