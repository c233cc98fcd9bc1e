// The state store on PostgreSQL: the same async ports as the SQLite store (core/store-ports.ts),
// over a PgSession (reads on a pool; each write one transaction, fenced when a leader's). Each
// port method is one read or one write. The apply journal stays node-local: it is the
// journal of a local SQLite store handed in. Identity, the fleet read model, tallies,
// deployments and the benchmark registry come from `fleetPorts`, built over the same session.
import type pg from 'pg';
import type { Run, RunFacts, StageName, StageResult } from '../../core/run.js';
import type { EventRecord } from '../../core/records.js';
import type {
  ApplyJournal, ApprovalStore, BenchmarkRegistryStore, BenchmarkStore, CommandStore, DeploymentStore, FirstSnapshot,
  FleetStateStore, FloorStore, IdentityStore, KvStore, ManifestStore, NewRun, RunPlanStore, SnapshotWrite, SourcePollStore,
  StateStore, TallyStore,
} from '../../core/store-ports.js';
import { primaryPool, type PgTarget } from './connect.js';
import { migrate } from './migrate.js';
import { PG_MIGRATIONS } from './migrations.js';
import { PgApprovals, PgBenchmarks, PgCommands, PgFloors, PgKv, PgManifests } from './records.js';
import { PgRunPlans } from './run-plans.js';
import { PgRunSteps } from './run-steps.js';
import { PgRuns } from './runs.js';
import { poolSession, type PgSession } from './session.js';
import { PgSourcePolls } from './source-polls.js';
import { translating } from './sql.js';

/** The fleet-side ports, each over the store's session and clock. */
export interface FleetPorts {
  identity: IdentityStore;
  fleet: FleetStateStore;
  tallies: TallyStore;
  deployments: DeploymentStore;
  benchmarkRegistry: BenchmarkRegistryStore;
}

export interface PgStoreOptions {
  /** The node's local SQLite store: the apply journal is this node's, never shared. Closed with this store. */
  local: StateStore;
  fleetPorts: (session: PgSession, now: () => number) => FleetPorts;
  /** Ended when the store closes (the pool `open` made). */
  pool?: pg.Pool;
}

export class PgStore implements StateStore {
  readonly manifests: ManifestStore;
  readonly floors: FloorStore;
  readonly approvals: ApprovalStore;
  readonly commands: CommandStore;
  readonly plans: RunPlanStore;
  readonly benchmarks: BenchmarkStore;
  readonly kv: KvStore;
  readonly sourcePolls: SourcePollStore;
  readonly journal: ApplyJournal;
  readonly identity: IdentityStore;
  readonly fleet: FleetStateStore;
  readonly tallies: TallyStore;
  readonly deployments: DeploymentStore;
  readonly benchmarkRegistry: BenchmarkRegistryStore;
  /** The session every port uses, its errors translated (a refused uniqueness rule is E_DUPLICATE). */
  readonly session: PgSession;
  private readonly runs: PgRuns;
  private readonly steps: PgRunSteps;
  private closed: Promise<void> | null = null;

  constructor(session: PgSession, readonly now: () => number, private readonly opts: PgStoreOptions) {
    this.session = translating(session);
    this.runs = new PgRuns(this.session);
    this.steps = new PgRunSteps(this.session);
    this.manifests = new PgManifests(this.session);
    this.floors = new PgFloors(this.session);
    this.approvals = new PgApprovals(this.session);
    this.commands = new PgCommands(this.session);
    this.plans = new PgRunPlans(this.session);
    this.benchmarks = new PgBenchmarks(this.session);
    this.kv = new PgKv(this.session);
    this.sourcePolls = new PgSourcePolls(this.session);
    this.journal = opts.local.journal;
    const fleet = opts.fleetPorts(this.session, now);
    this.identity = fleet.identity;
    this.fleet = fleet.fleet;
    this.tallies = fleet.tallies;
    this.deployments = fleet.deployments;
    this.benchmarkRegistry = fleet.benchmarkRegistry;
  }

  /**
   * Reach the writable primary (walking `target.hosts`), bring its schema up to date under the
   * migration lock, and open the store on a pool there; writes use `session(pool)` (a leader's
   * fenced session) or plain pooled transactions.
   */
  static async open(target: PgTarget, opts: Omit<PgStoreOptions, 'pool'> & {
    now: () => number; session?: (pool: pg.Pool) => PgSession; maxConnections?: number;
  }): Promise<PgStore> {
    const { pool, client } = await primaryPool(target, opts.maxConnections);
    try {
      await migrate(client, PG_MIGRATIONS);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    } finally {
      await client.end().catch(() => undefined);
    }
    const session = opts.session ? opts.session(pool) : poolSession(pool);
    return new PgStore(session, opts.now, { local: opts.local, fleetPorts: opts.fleetPorts, pool });
  }

  /** Ends the pool this store opened and closes the local store; resolves when both are done. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.opts.local.close();
      await this.opts.pool?.end().catch(() => undefined);
    })();
    return this.closed;
  }

  // ---- runs
  createRun(r: NewRun, first?: FirstSnapshot) { return this.runs.createRun(r, first); }
  createRetry(r: NewRun & { retryOf: string }, first: FirstSnapshot, approval: { by: string; reason: string }) {
    return this.runs.createRetry(r, first, approval);
  }
  getRun(id: string) { return this.runs.getRun(id); }
  requireRun(id: string) { return this.runs.requireRun(id); }
  findRun(track: string, version: string) { return this.runs.findRun(track, version); }
  listRuns(opts: { track?: string; limit?: number } = {}) { return this.runs.listRuns(opts); }
  findRetry(runId: string) { return this.runs.findRetry(runId); }
  unfinishedRuns() { return this.runs.unfinishedRuns(); }
  versionsSeen(track: string) { return this.runs.versionsSeen(track); }
  lastStable(track: string, before?: string): Promise<Run | null> { return this.runs.lastStable(track, before); }
  runCounts() { return this.runs.runCounts(); }
  ping() { return this.runs.ping(); }

  // ---- driver lease
  acquireLease(runId: string, owner: string, pid: number, until: number, now: number, alive: (pid: number) => boolean) {
    return this.runs.acquireLease(runId, owner, pid, until, now, alive);
  }
  releaseLease(runId: string, owner: string) { return this.runs.releaseLease(runId, owner); }
  leaseHolder(runId: string) { return this.runs.leaseHolder(runId); }

  // ---- snapshots, stage results, attempts
  saveSnapshot(s: SnapshotWrite) { return this.runs.saveSnapshot(s); }
  loadSnapshot(runId: string) { return this.runs.loadSnapshot(runId); }
  getStageResult(runId: string, stage: StageName) { return this.steps.getStageResult(runId, stage); }
  stageResults(runId: string) { return this.steps.stageResults(runId); }
  recordStageResult(r: StageResult, facts: Partial<RunFacts> = {}) { return this.steps.recordStageResult(r, facts); }
  runFacts(runId: string) { return this.steps.runFacts(runId); }
  startAttempt(runId: string, stage: StageName, at: number) { return this.steps.startAttempt(runId, stage, at); }
  setAttemptPid(runId: string, stage: StageName, attempt: number, pid: number | null) {
    return this.steps.setAttemptPid(runId, stage, attempt, pid);
  }
  strayPids(runId: string) { return this.steps.strayPids(runId); }

  // ---- events
  appendEvent(e: Omit<EventRecord, 'seq'>) { return this.steps.appendEvent(e); }
  appendEventGuarded(
    e: Omit<EventRecord, 'seq'> & { runId: string }, guard: { unless: readonly string[]; requires?: readonly string[] },
  ) {
    return this.steps.appendEventGuarded(e, guard);
  }
  eventsOfKind(kinds: readonly string[], limit?: number) { return this.steps.eventsOfKind(kinds, limit); }
  events(opts: { runId?: string; limit?: number } = {}) { return this.steps.events(opts); }
}
