// The storage ports of the fleet side (store-ports.ts has the pipeline's and the node's): the
// fleet read model, deployments, the benchmark registry and what /metrics counts. Async and
// one transaction per method, as every store port.
import type { BenchmarkCapture, BenchmarkRepo } from './records.js';
import type { NodeState } from './node-state.js';
import type {
  Deployment, DeploymentEvent, DeploymentManifest, DeploymentStatus, HealthSummary, NewDeployment,
} from './deployment-records.js';
import type { RolloutState } from './decisions/rollout.js';

/**
 * The fleet read model: the latest heartbeat of every node heard, in typed rows (one per
 * node, one per node and track). Async, as every store port, for a networked store later.
 */
export interface FleetStateStore {
  /** Keep these as each node's current state (the latest per node wins), in one transaction. */
  record(states: readonly NodeState[]): Promise<void>;
  /**
   * Only when each node was last heard (its state unchanged), in one transaction; a time never
   * moves back, and a node not recorded yet is skipped.
   */
  touch(seen: ReadonlyArray<{ node: string; heardAt: number }>): Promise<void>;
  /** Every node's current state, by node id. */
  nodes(): Promise<NodeState[]>;
  node(id: string): Promise<NodeState | null>;
  /** Drop nodes not heard since `before` (retention); returns how many were dropped. */
  forget(before: number): Promise<number>;
}

/** What /metrics reads, so the front door runs no SQL of its own. */
export interface StageTally {
  /** The row's position: pass the largest seen as `after` next time. */
  rowid: number; track: string; stage: string; outcome: string; durationMs: number;
}
export interface TallyStore {
  /** Stage results recorded after `after` (a rowid), oldest first, at most `limit`. */
  stageResultsAfter(after: number, limit?: number): Promise<StageTally[]>;
  /** Pipeline runs by track and status. */
  runsByStatus(): Promise<Array<{ track: string; status: string; n: number }>>;
  /** Ended applies of this node by track and outcome. */
  appliesByOutcome(): Promise<Array<{ track: string; outcome: string; n: number }>>;
}

export interface DeploymentReservation {
  deploymentId: string; step: string; track: string; targets: 'all' | string[]; at: number;
  /** The payload bytes for the seq reserved; called inside the transaction, so it must not wait. */
  build: (seq: number) => Uint8Array;
}

/** Deployments (migration 9): history per key, rollout state changed by compare-and-set on `rev`. */
export interface DeploymentStore {
  /** Insert with the key's next version number; returns the stored deployment. */
  create(d: NewDeployment): Promise<Deployment>;
  get(id: string): Promise<Deployment | null>;
  byNumber(key: string, number: number): Promise<Deployment | null>;
  forRun(runId: string): Promise<Deployment | null>;
  /** Newest first; optionally one key's. */
  list(opts?: { key?: string; limit?: number }): Promise<Deployment[]>;
  active(): Promise<Deployment[]>;
  /** The newest deployment of a track that succeeded: what a revert returns to. */
  lastSucceeded(track: string, exceptId?: string): Promise<Deployment | null>;
  /** Change progress if nobody changed it since `rev` was read; false when somebody did. */
  update(id: string, rev: number, patch: DeploymentAdvance['patch'], at: number): Promise<boolean>;
  appendEvent(e: Omit<DeploymentEvent, 'seq'>): Promise<void>;
  events(deploymentId: string): Promise<DeploymentEvent[]>;
  allEvents(limit?: number): Promise<DeploymentEvent[]>;
  manifest(deploymentId: string, step: string): Promise<DeploymentManifest | null>;
  manifests(deploymentId: string): Promise<DeploymentManifest[]>;
  /** The track's next seq for one step of a deployment, once; the same step again gets the stored record. */
  reserveManifest(r: DeploymentReservation): Promise<DeploymentManifest>;
  maxSeq(track: string): Promise<number | null>;
  setEnvelope(deploymentId: string, step: string, envelope: string): Promise<void>;
  /**
   * One step of a deployment in one transaction, kept only while the deployment is still at
   * `rev` (false otherwise, and nothing is written): `plan` reserves the manifests the step
   * needs through `reserve` (same seq line as `reserveManifest`) and says the new progress
   * and the event to append. `plan` runs inside the transaction, so it must not wait.
   */
  advance(id: string, rev: number, at: number, plan: DeploymentPlan): Promise<boolean>;
}

/** A step's plan, run inside the step's transaction: it must not wait. */
export type DeploymentPlan = (reserve: (r: DeploymentReservation) => DeploymentManifest) => DeploymentAdvance;

export interface DeploymentAdvance {
  patch: { status?: DeploymentStatus; state?: RolloutState; health?: HealthSummary; reason?: string | null };
  event: Omit<DeploymentEvent, 'seq' | 'deploymentId' | 'at'> | null;
}

/** The benchmark registry (migration 10): registered benchmark repositories and captures. */
export interface BenchmarkRegistryStore {
  repos(): Promise<BenchmarkRepo[]>;
  repo(name: string): Promise<BenchmarkRepo | null>;
  /** Insert, or re-pin a repository registered under the same name from the same URL. */
  save(r: BenchmarkRepo): Promise<void>;
  saveCapture(c: Omit<BenchmarkCapture, 'id'>): Promise<number>;
  /** Several captures in one transaction (all or none); their ids in order. */
  saveCaptures(cs: Array<Omit<BenchmarkCapture, 'id'>>): Promise<number[]>;
  /** Captures, newest first. */
  captures(limit?: number): Promise<BenchmarkCapture[]>;
}
