// The storage ports: what the pipeline, the node and the services ask of the state store.
// Every method returns a Promise, so a store over the network (a later PostgreSQL one)
// fits the same seams; and every method is atomic on its own (one call, one transaction),
// because no transaction can be held across an await. The SQLite store implements them
// (adapters/sqlite); the uniqueness rules (one manifest per track and seq, one reservation
// per run and purpose, one result per run and stage, one retry per run) stay in its schema.
import type { Run, RunFacts, RunStatus, StageName, StageResult } from './run.js';
import type {
  ApplyPatch, ApplyRecord, ApplyState, ApplyStep, ApprovalRecord, BadVersion, BenchmarkRecord, BranchPresence, CanaryPlan, CertRecord,
  EventRecord, JoinTokenRecord, ManifestPurpose, ManifestRecord, PeerRecord, PeerState, RevocationRecord, RunCommand, SourcePoll,
} from './records.js';
import type { BenchmarkRegistryStore, DeploymentStore, FleetStateStore, TallyStore } from './store-ports-fleet.js';

export type * from './store-ports-fleet.js';

export type NewRun = Omit<Run, 'status' | 'stage' | 'reason' | 'code' | 'updatedAt' | 'finishedAt'>;

/** The idle snapshot a new run starts from, written with the run. */
export interface FirstSnapshot { machineVersion: number; snapshot: unknown; at: number }

export interface SnapshotWrite {
  runId: string; machineVersion: number; state: string; status: RunStatus; snapshot: unknown; reason: string | null; code: string | null; at: number;
}

export interface SavedSnapshot { machineVersion: number; state: string; snapshot: unknown }

/** Runs, their persisted machine snapshots, driver leases, stage results, facts and the event log. */
export interface RunStore {
  /** Create a run; with `first`, its idle snapshot and the `run.created` event commit with it. */
  createRun(r: NewRun, first?: FirstSnapshot): Promise<Run>;
  /**
   * The one approved retry of a run: created with its snapshot and approval in one transaction,
   * or the retry that exists already (`created: false`).
   */
  createRetry(r: NewRun & { retryOf: string }, first: FirstSnapshot, approval: { by: string; reason: string }): Promise<{ run: Run; created: boolean }>;
  getRun(id: string): Promise<Run | null>;
  /** E_RUN_NOT_FOUND when there is none. */
  requireRun(id: string): Promise<Run>;
  findRun(track: string, version: string): Promise<Run | null>;
  listRuns(opts?: { track?: string; limit?: number }): Promise<Run[]>;
  findRetry(runId: string): Promise<Run | null>;
  unfinishedRuns(): Promise<Run[]>;
  versionsSeen(track: string): Promise<string[]>;
  /** The newest completed run of a track: the "last stable release". */
  lastStable(track: string, before?: string): Promise<Run | null>;
  /** How many runs per track and status. */
  runCounts(): Promise<Array<{ track: string; status: RunStatus; n: number }>>;
  /** Take or renew the driver lease; a lease whose holder died (pid gone) or expired is taken over. */
  acquireLease(runId: string, owner: string, pid: number, until: number, now: number, alive: (pid: number) => boolean): Promise<boolean>;
  releaseLease(runId: string, owner: string): Promise<void>;
  leaseHolder(runId: string): Promise<{ owner: string; pid: number; until: number } | null>;
  /** The snapshot with the run's status and a `run.state` event when the state changed, in one transaction. */
  saveSnapshot(s: SnapshotWrite): Promise<void>;
  loadSnapshot(runId: string): Promise<SavedSnapshot | null>;
  getStageResult(runId: string, stage: StageName): Promise<StageResult | null>;
  stageResults(runId: string): Promise<StageResult[]>;
  /** Once per (run, stage), with the facts later stages read; a second record is refused. */
  recordStageResult(r: StageResult, facts?: Partial<RunFacts>): Promise<void>;
  runFacts(runId: string): Promise<RunFacts>;
  startAttempt(runId: string, stage: StageName, at: number): Promise<{ attempt: number; firstStartedAt: number }>;
  setAttemptPid(runId: string, stage: StageName, attempt: number, pid: number | null): Promise<void>;
  strayPids(runId: string): Promise<Array<{ stage: string; attempt: number; pid: number }>>;
  appendEvent(e: Omit<EventRecord, 'seq'>): Promise<void>;
  /**
   * Append `e` in one transaction unless its run has an event of a kind in `unless`, or (with
   * `requires`) none of a kind in `requires`. True when appended.
   */
  appendEventGuarded(e: Omit<EventRecord, 'seq'> & { runId: string }, guard: { unless: readonly string[]; requires?: readonly string[] }): Promise<boolean>;
  eventsOfKind(kinds: readonly string[], limit?: number): Promise<EventRecord[]>;
  events(opts?: { runId?: string; limit?: number }): Promise<EventRecord[]>;
  /** Resolves when the store answers a trivial query (readiness). */
  ping(): Promise<void>;
}

export interface ApprovalStore {
  /** Record (or replace) the approval of a run with its `run.approved` event. */
  approve(runId: string, by: string, reason: string, at: number): Promise<void>;
  get(runId: string): Promise<ApprovalRecord | null>;
}

export interface CommandStore {
  enqueue(c: Omit<RunCommand, 'id'>): Promise<number>;
  pending(runId: string): Promise<RunCommand[]>;
  consume(id: number, at: number): Promise<void>;
}

export interface RunPlanStore {
  /** The stored plan; `null` when the stage found no candidates; `undefined` when none was chosen yet. */
  canaryPlan(runId: string): Promise<CanaryPlan | null | undefined>;
  /** Keep the first plan chosen for a run (or its absence); returns what is stored. */
  fixCanaryPlan(runId: string, plan: CanaryPlan | null, at: number): Promise<CanaryPlan | null>;
  canaryConfirms(runId: string): Promise<Record<string, number>>;
  recordCanaryConfirms(runId: string, confirmed: Record<string, number>): Promise<void>;
  deadline(runId: string, purpose: string): Promise<number | null>;
  /** Set a run's deadline once; a restart gets the stored one back. */
  fixDeadline(runId: string, purpose: string, at: number): Promise<number>;
}

export interface BenchmarkStore {
  save(b: BenchmarkRecord): Promise<void>;
  forRun(runId: string): Promise<BenchmarkRecord[]>;
  list(opts?: { track?: string; limit?: number }): Promise<BenchmarkRecord[]>;
}

export interface ManifestReservation {
  runId: string; track: string; kind: 'release' | 'rollback'; purpose: ManifestPurpose; version: string; commit: string; at: number;
  /** The payload bytes for the seq reserved; called inside the transaction, so it must not wait. */
  build: (seq: number) => Uint8Array;
}

/** The authority's manifests. */
export interface ManifestStore {
  forRun(runId: string, purpose: ManifestPurpose): Promise<ManifestRecord | null>;
  get(track: string, seq: number): Promise<ManifestRecord | null>;
  list(track?: string): Promise<ManifestRecord[]>;
  latestSigned(track: string): Promise<ManifestRecord | null>;
  /** Versions with a signed release manifest from a run that was not rolled back, but `exceptRun`. */
  releasedVersions(track: string, exceptRun?: string): Promise<string[]>;
  /** The next seq of a track for a run, once: a run that reserved gets its record back. */
  reserve(r: ManifestReservation): Promise<ManifestRecord>;
  /** E_SEQ_CONFLICT when no such manifest was reserved. */
  setEnvelope(track: string, seq: number, envelope: string): Promise<void>;
  /**
   * Keep a verified envelope no run of this store signed (the E_SEQ_REGRESSION repair) for its
   * (track, seq), under the track's seq lock: 'stored', or 'same' when this store already holds
   * that envelope (or its payload, reserved); E_SEQ_CONFLICT for anything else at that seq.
   */
  importSigned(track: string, seq: number, payload: Uint8Array, envelope: string): Promise<'stored' | 'same'>;
  /** The envelope imported for (track, seq), or null. */
  imported(track: string, seq: number): Promise<string | null>;
}

/**
 * Imported envelopes live in kv under this prefix (no run of this store owns them, and
 * `manifests.run_id` must name one); the seq line counts them (nextManifestSeq).
 */
export const importedManifestPrefix = (track: string): string => `manifest.imported.${track}#`;

/** A node's floors: the lowest seq per track it still accepts. */
export interface FloorStore {
  get(track: string): Promise<number | null>;
  /** Raise the floor; it never goes down. */
  raise(track: string, seq: number, at: number): Promise<void>;
  all(): Promise<Record<string, number>>;
}

/** Small named values with no table of their own (gossip's held manifests, smoke baselines). */
export interface KvStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
  /** Several keys in one transaction. */
  setMany(entries: Record<string, string>): Promise<void>;
  /** The values of every key that starts with `prefix`, in key order. */
  withPrefix(prefix: string): Promise<string[]>;
}

export interface SourcePollStore {
  last(): Promise<SourcePoll | null>;
  branches(): Promise<BranchPresence[]>;
  recordSuccess(at: number, branches: Array<{ track: string; branch: string; present: boolean }>): Promise<void>;
  recordFailure(at: number, error: { code: string; message: string }): Promise<void>;
}

/** Who did it and what to say, for the event a write appends in its own transaction. */
export interface Audit { actor: string; data: Record<string, unknown> }

/** What `IdentityStore.issue` asks the caller to sign once the serial is known. */
export interface CertDraft { serial: number; held: CertRecord | null; token: JoinTokenRecord | null }
export interface IssuedCert { publicKey: string; labels: Record<string, string>; cert: string; issuedAt: number; expiresAt: number; event: Audit }

/** Signs a revocation list; called inside the transaction that records it, so it must not wait. */
export type RevocationSigner = (seq: number, revoked: RevocationRecord[]) => string;

/** Join tokens, node certificates, revocations, peers: the fleet's identity. */
export interface IdentityStore {
  /** With `audit`, the `identity.token_created` event commits with the token. */
  addToken(t: Omit<JoinTokenRecord, 'usedAt' | 'usedBy'>, audit?: Audit): Promise<void>;
  token(tokenHash: string): Promise<JoinTokenRecord | null>;
  tokens(): Promise<JoinTokenRecord[]>;
  /**
   * Issue a certificate in one transaction: spend `tokenHash` (E_TOKEN when it cannot be),
   * take the next serial, let `sign` build it (a throw commits nothing), supersede older
   * certificates of the node, append `identity.cert_issued`.
   */
  issue(r: { nodeId: string; tokenHash: string | null; at: number; sign: (d: CertDraft) => IssuedCert }): Promise<CertRecord>;
  addCert(c: Omit<CertRecord, 'revokedAt' | 'revokeReason'>): Promise<void>;
  certs(nodeId?: string): Promise<CertRecord[]>;
  latestCert(nodeId: string): Promise<CertRecord | null>;
  /** Revoke every certificate of a node up to and including `serial`. Idempotent. */
  revoke(nodeId: string, serial: number, reason: string, at: number): Promise<void>;
  /**
   * Revoke a node's newest certificate and sign the next revocation list, with the
   * `identity.cert_revoked` event, in one transaction. null: no certificate was ever issued.
   */
  revokeNode(r: { nodeId: string; reason: string; at: number; actor: string; sign: RevocationSigner }):
    Promise<{ serial: number; already: boolean; revokedAt: number; reason: string; list: number | null } | null>;
  /** Sign the next revocation list of everything revoked and hold it for gossip. */
  publishRevocationList(sign: RevocationSigner): Promise<{ seq: number; revoked: number }>;
  /** The revocation list envelope held for gossip, or null. */
  revocationList(): Promise<string | null>;
  /** Hold a revocation list taken from gossip and record its revocations, in one transaction. */
  holdRevocationList(envelope: string, revoked: RevocationRecord[]): Promise<void>;
  isRevoked(nodeId: string, serial: number): Promise<boolean>;
  revocations(): Promise<RevocationRecord[]>;
  upsertPeers(peers: PeerRecord[]): Promise<void>;
  setPeerState(nodeId: string, state: PeerState): Promise<void>;
  peer(nodeId: string): Promise<PeerRecord | null>;
  peers(): Promise<PeerRecord[]>;
}

export type ApplyBegin = Pick<ApplyRecord, 'track' | 'seq' | 'version' | 'commit' | 'kind' | 'codeHash' | 'releaseDir' | 'previousDir' | 'envelope'>;

/** What commits together with an apply's transition. */
export interface ApplyAlso {
  /** Raise the track's floor to this apply's seq (a confirmed release). */
  raiseFloor?: boolean;
  /** Mark this apply's version bad, with this reason. */
  markBad?: string;
}

/** The node's apply journal and bad-version marks. */
export interface ApplyJournal {
  /** Open the journal entry of a verified manifest. E_APPLY_LOCKED if another apply is still open. */
  begin(a: ApplyBegin, at: number, note: string): Promise<ApplyRecord>;
  /** Move an apply to `state` with its step row (and `also`) in one transaction. */
  transition(id: number, state: ApplyState, note: string, at: number, patch?: ApplyPatch, also?: ApplyAlso): Promise<ApplyRecord>;
  get(id: number): Promise<ApplyRecord | null>;
  require(id: number): Promise<ApplyRecord>;
  open(): Promise<ApplyRecord | null>;
  latestPerTrack(): Promise<ApplyRecord[]>;
  latestConfirmedPerTrack(): Promise<ApplyRecord[]>;
  list(limit?: number): Promise<ApplyRecord[]>;
  steps(id: number): Promise<ApplyStep[]>;
  noteInterrupted(id: number, note: string, at: number): Promise<void>;
  interruptions(track: string, seq: number, commit: string): Promise<number>;
  markBad(b: BadVersion): Promise<void>;
  badMark(track: string, commit: string, version: string): Promise<BadVersion | null>;
  /** Remove the marks of a version (by name or commit); with `audit`, an `apply.unmarked` event when any went. */
  clearBad(track: string, versionOrCommit: string, audit?: { at: number; actor: string; reason: string }): Promise<BadVersion[]>;
  badVersions(): Promise<BadVersion[]>;
  /**
   * Run `fn` while holding the state database's write lock, so the processes of this node
   * take turns (the apply lock file's check-and-take). `fn` must not wait.
   */
  serialized(fn: () => void): Promise<void>;
}

/** Everything the state store keeps, as one value the composition root hands out. */
export interface StateStore extends RunStore {
  readonly manifests: ManifestStore;
  readonly floors: FloorStore;
  readonly approvals: ApprovalStore;
  readonly commands: CommandStore;
  readonly plans: RunPlanStore;
  readonly benchmarks: BenchmarkStore;
  readonly kv: KvStore;
  readonly identity: IdentityStore;
  readonly sourcePolls: SourcePollStore;
  readonly journal: ApplyJournal;
  readonly fleet: FleetStateStore;
  readonly tallies: TallyStore;
  readonly deployments: DeploymentStore;
  readonly benchmarkRegistry: BenchmarkRegistryStore;
  close(): void;
}
