// The state store over one SQLite file: runs, persisted machine snapshots, stage results
// and evidence, the append-only event log, benchmark snapshots, manifests, floors,
// approvals, identity, the node's apply journal. better-sqlite3 answers synchronously;
// this class is the async port face (core/store-ports.ts) of the tables behind it, and
// each method is one statement or one transaction.
import type { Run, RunFacts, StageName, StageResult } from '../../core/run.js';
import type { EventRecord } from '../../core/records.js';
import type {
  ApplyJournal, ApprovalStore, BenchmarkStore, CommandStore, FirstSnapshot, FloorStore, IdentityStore, KvStore, ManifestStore, NewRun,
  RunPlanStore, SnapshotWrite, SourcePollStore, StateStore, FleetStateStore, TallyStore, DeploymentStore, BenchmarkRegistryStore,
} from '../../core/store-ports.js';
import { openDb, type Db } from './db.js';
import { IdentityTable } from './identity-tables.js';
import { NodeTables } from './node-tables.js';
import { promised } from './promised.js';
import { SourcePollTable } from './source-polls.js';
import { RunPlanTables } from './run-plans.js';
import { FleetStateTable } from './fleet-state.js';
import { Tallies } from './tallies.js';
import { DeploymentTable } from './deployments.js';
import { BenchmarkRegistry } from './benchmark-registry.js';
import { ApprovalTable, BenchmarkTable, CommandTable, FloorTable, KvTable, ManifestTable } from './records.js';
import { RunTables } from './runs.js';

export type { BenchmarkRecord, EventRecord, ManifestPurpose, ManifestRecord } from '../../core/records.js';

export class Store implements StateStore {
  readonly manifests: ManifestStore;
  readonly benchmarks: BenchmarkStore;
  readonly floors: FloorStore;
  readonly approvals: ApprovalStore;
  readonly commands: CommandStore;
  readonly kv: KvStore;
  readonly identity: IdentityStore;
  readonly sourcePolls: SourcePollStore;
  readonly plans: RunPlanStore;
  readonly journal: ApplyJournal;
  /** The fleet read model: each node's latest heartbeat (migration 8). */
  readonly fleet: FleetStateStore;
  /** Counts /metrics reads. */
  readonly tallies: TallyStore;
  readonly deployments: DeploymentStore;
  readonly benchmarkRegistry: BenchmarkRegistryStore;
  private readonly runs: RunTables;

  constructor(readonly db: Db) {
    this.runs = new RunTables(db);
    this.manifests = promised(new ManifestTable(db));
    this.benchmarks = promised(new BenchmarkTable(db));
    this.floors = promised(new FloorTable(db));
    this.approvals = promised(new ApprovalTable(db));
    this.commands = promised(new CommandTable(db));
    this.kv = promised(new KvTable(db));
    this.identity = promised(new IdentityTable(db));
    this.sourcePolls = promised(new SourcePollTable(db));
    this.plans = promised(new RunPlanTables(db));
    this.journal = promised(new NodeTables(db));
    this.fleet = new FleetStateTable(db);
    this.tallies = new Tallies(db);
    this.deployments = promised(new DeploymentTable(db));
    this.benchmarkRegistry = promised(new BenchmarkRegistry(db));
  }

  static open(file: string, now: () => number): Store {
    return new Store(openDb(file, { now }));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // ---- runs (one method, one statement or transaction of RunTables)
  async createRun(r: NewRun, first?: FirstSnapshot) { return this.runs.createRun(r, first); }
  async createRetry(r: NewRun & { retryOf: string }, first: FirstSnapshot, approval: { by: string; reason: string }) {
    return this.runs.createRetry(r, first, approval);
  }
  async getRun(id: string) { return this.runs.getRun(id); }
  async requireRun(id: string) { return this.runs.requireRun(id); }
  async findRun(track: string, version: string) { return this.runs.findRun(track, version); }
  async listRuns(opts: { track?: string; limit?: number } = {}) { return this.runs.listRuns(opts); }
  async findRetry(runId: string) { return this.runs.findRetry(runId); }
  async unfinishedRuns() { return this.runs.unfinishedRuns(); }
  async versionsSeen(track: string) { return this.runs.versionsSeen(track); }
  async lastStable(track: string, before?: string): Promise<Run | null> { return this.runs.lastStable(track, before); }
  async runCounts() { return this.runs.runCounts(); }
  async ping() { this.runs.ping(); }

  // ---- driver lease
  async acquireLease(runId: string, owner: string, pid: number, until: number, now: number, alive: (pid: number) => boolean) {
    return this.runs.acquireLease(runId, owner, pid, until, now, alive);
  }
  async releaseLease(runId: string, owner: string) { this.runs.releaseLease(runId, owner); }
  async leaseHolder(runId: string) { return this.runs.leaseHolder(runId); }

  // ---- snapshots, stage results, attempts
  async saveSnapshot(s: SnapshotWrite) { this.runs.saveSnapshot(s); }
  async loadSnapshot(runId: string) { return this.runs.loadSnapshot(runId); }
  async getStageResult(runId: string, stage: StageName) { return this.runs.getStageResult(runId, stage); }
  async stageResults(runId: string) { return this.runs.stageResults(runId); }
  async recordStageResult(r: StageResult, facts: Partial<RunFacts> = {}) { this.runs.recordStageResult(r, facts); }
  async runFacts(runId: string) { return this.runs.runFacts(runId); }
  async startAttempt(runId: string, stage: StageName, at: number) { return this.runs.startAttempt(runId, stage, at); }
  async setAttemptPid(runId: string, stage: StageName, attempt: number, pid: number | null) { this.runs.setAttemptPid(runId, stage, attempt, pid); }
  async strayPids(runId: string) { return this.runs.strayPids(runId); }

  // ---- events
  async appendEvent(e: Omit<EventRecord, 'seq'>) { this.runs.appendEvent(e); }
  async appendEventGuarded(e: Omit<EventRecord, 'seq'> & { runId: string }, guard: { unless: readonly string[]; requires?: readonly string[] }) {
    return this.runs.appendEventGuarded(e, guard);
  }
  async eventsOfKind(kinds: readonly string[], limit?: number) { return this.runs.eventsOfKind(kinds, limit); }
  async events(opts: { runId?: string; limit?: number } = {}) { return this.runs.events(opts); }
}
