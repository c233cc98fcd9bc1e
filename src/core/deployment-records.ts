// What a deployment is (migration 9), as the store's port hands it out and the stages,
// services and CLI read it: its history row, its events, the manifests it signs.
import type { DeployPolicy } from './deploy-policy.js';
import type { RolloutState } from './decisions/rollout.js';

export type DeploymentStatus = 'running' | 'paused' | 'waiting_promote' | 'succeeded' | 'failed' | 'reverted';
export const ACTIVE_STATUSES: readonly DeploymentStatus[] = ['running', 'paused', 'waiting_promote'];

export interface ReleaseRef { version: string; commit: string; code_hash: string; run: string; number: number | null }

/** Per node, what the authority last saw of it in this deployment. */
export type HealthSummary = Record<string, { state: string; version: string | null; health: string; role: 'canary' | 'wave' | 'waiting' | 'unmoved'; note?: string }>;

export interface Deployment {
  id: string; key: string; number: number; track: string; runId: string | null; kind: 'release' | 'rollback';
  source: { version: string; commit: string } | null;
  target: ReleaseRef;
  strategy: DeployPolicy['strategy']; policy: DeployPolicy; urgent: boolean;
  status: DeploymentStatus; state: RolloutState; health: HealthSummary;
  rollbackTarget: ReleaseRef | null; rollbackOf: number | null; reason: string | null;
  rev: number; createdAt: number; updatedAt: number; finishedAt: number | null;
}

export interface DeploymentEvent { seq: number; deploymentId: string | null; at: number; kind: string; actor: string; outcome: string; data: Record<string, unknown> }

export interface DeploymentManifest { deploymentId: string; step: string; track: string; seq: number; targets: 'all' | string[]; payload: Uint8Array; envelope: string | null }

export type NewDeployment = Omit<Deployment, 'number' | 'rev' | 'updatedAt' | 'finishedAt' | 'reason' | 'health'>;
