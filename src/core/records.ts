// The records the stores keep, as the rest of upshift sees them. The storage ports in
// ports.ts speak these types; the SQLite adapter maps its rows to them.
import type { Metrics } from './decisions/benchmark.js';

// ---- pipeline
export interface EventRecord {
  seq: number; at: number; runId: string | null; stage: string | null; kind: string; actor: string; data: Record<string, unknown>;
}

export type ManifestPurpose = 'release' | 'canary' | 'deploy' | 'rollback';

export interface ManifestRecord {
  track: string; seq: number; runId: string; kind: 'release' | 'rollback'; purpose: ManifestPurpose; version: string; commit: string;
  payload: Uint8Array; envelope: string | null; createdAt: number;
}

export interface BenchmarkRecord {
  runId: string; suite: string; track: string; version: string; commit: string;
  metrics: Record<string, { value: number; better: 'lower' | 'higher'; unit?: string }>; samples: unknown[]; createdAt: number;
}

export interface ApprovalRecord {
  by: string;
  reason: string;
  at: number;
}

/** A mutating request queued for whichever process drives the run (an abort today). */
export interface RunCommand { id: number; runId: string; kind: 'abort'; reason: string; by: string; at: number }

// ---- the node's apply journal
export type ApplyState = 'verified' | 'staged' | 'switching' | 'probation' | 'rolling_back' | 'confirmed' | 'rolled_back' | 'failed' | 'abandoned';

export const OPEN_STATES: readonly ApplyState[] = ['verified', 'staged', 'switching', 'probation', 'rolling_back'];

export interface ApplyRecord {
  id: number;
  track: string;
  seq: number;
  version: string;
  commit: string;
  kind: 'release' | 'rollback';
  /** The code hash the signed manifest pins. */
  codeHash: string;
  /** The code hash computed from this node's checkout, once fetched. */
  actualCodeHash: string | null;
  releaseDir: string;
  previousDir: string | null;
  state: ApplyState;
  reason: string | null;
  code: string | null;
  healthyBy: number | null;
  healthySince: number | null;
  stableUntil: number | null;
  envelope: string;
  startedAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export interface ApplyStep {
  seq: number;
  applyId: number;
  at: number;
  state: string;
  note: string;
}

export interface BadVersion {
  track: string;
  commit: string;
  version: string;
  reason: string;
  at: number;
}

/** Fields a transition may set besides the state. */
export type ApplyPatch = Partial<Pick<ApplyRecord, 'reason' | 'code' | 'actualCodeHash' | 'healthyBy' | 'healthySince' | 'stableUntil'>>;

// ---- fleet identity
export interface JoinTokenRecord {
  tokenHash: string;
  labels: Record<string, string>;
  nodeId: string | null;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  usedBy: string | null;
}

export interface CertRecord {
  serial: number;
  nodeId: string;
  publicKey: string;
  labels: Record<string, string>;
  /** The certificate envelope as JSON text. */
  cert: string;
  issuedAt: number;
  expiresAt: number;
  tokenHash: string | null;
  /** Set when a revocation covers this serial (an explicit revoke, or superseded by a newer certificate). */
  revokedAt: number | null;
  revokeReason: string | null;
}

export interface RevocationRecord {
  nodeId: string;
  serial: number;
  revokedAt: number;
  reason: string;
}

export type PeerState = 'alive' | 'suspect' | 'dead';

export interface PeerRecord {
  nodeId: string;
  url: string;
  cert: string | null;
  labels: Record<string, string>;
  state: PeerState;
  lastSeen: number;
  heartbeat: string | null;
}


// ---- run plans (what CANARY and DEPLOY fix once so a restart continues the same soak)
export interface CanaryPlan {
  canaries: string[];
  selection: string;
  selectedAt: number;
  /** Absolute: a canary that has not confirmed the release by then fails. */
  confirmBy: number;
}

// ---- the authority's source polls
export interface SourcePoll {
  at: number;
  ok: boolean;
  /** The error code and message of a failed poll (E_GIT, E_UNREACHABLE, ...); null when ok. */
  code: string | null;
  message: string | null;
}

export interface BranchPresence {
  track: string;
  branch: string;
  present: boolean;
  checkedAt: number;
}

/** Benchmark registry (migration 10). */
export type Tier = 'fast' | 'heavy';

export interface BenchmarkRepo {
  name: string;
  repoUrl: string;
  ref: string;
  commit: string;
  command: string;
  tier: Tier;
  registeredAt: number;
  registeredBy: string;
}

export interface BenchmarkCapture {
  id: number;
  suite: string;
  version: string;
  commit: string;
  tier: Tier;
  metrics: Metrics;
  samples: unknown[];
  createdAt: number;
  actor: string;
}
