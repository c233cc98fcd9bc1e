// STAND-IN until the full PostgreSQL store (PgStore, migration 2) lands: registers a
// PostgreSQL adapter whose store has the five fleet-side ports over a fresh database (one
// CREATE DATABASE per store, one server per test file), cast to StateStore. Migration 2 is
// replaced here by the few tables those ports touch (with SQLite's columns), and the few
// StateStore methods the contract tests call to set up runs, manifests and read events are
// plain SQL here. At merge: delete this file and register the real adapter instead.
import type { Test } from 'tap';
import pg from 'pg';
import { migrate, type PgMigration } from '../../src/adapters/postgres/migrate.js';
import { PG_MIGRATIONS, PG_MIGRATION_003_FLEET } from '../../src/adapters/postgres/migrations.js';
import { poolSession } from '../../src/adapters/postgres/session.js';
import { nextManifestSeq } from '../../src/adapters/postgres/seq-line.js';
import { PgIdentity } from '../../src/adapters/postgres/identity.js';
import { PgFleetState } from '../../src/adapters/postgres/fleet-state.js';
import { PgTallies } from '../../src/adapters/postgres/tallies.js';
import { PgDeployments } from '../../src/adapters/postgres/deployments.js';
import { PgBenchmarkRegistry } from '../../src/adapters/postgres/benchmark-registry.js';
import type { ManifestReservation, NewRun, StateStore } from '../../src/core/store-ports.js';
import type { EventRecord } from '../../src/core/records.js';
import type { StageResult } from '../../src/core/run.js';
import { postgresAvailable, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { registerAdapter } from './stores.js';

/** Stand-in for migration 2: only what the fleet-side ports and these tests touch. */
const STAND_IN_2: PgMigration = {
  version: 2,
  name: 'stand-in-pipeline',
  sql: `
CREATE TABLE runs (id text PRIMARY KEY, track text NOT NULL, version text NOT NULL, ref text NOT NULL, commit_sha text NOT NULL,
  status text NOT NULL, stage text NOT NULL, reason text, code text, retry_of text, created_at bigint NOT NULL, updated_at bigint NOT NULL,
  finished_at bigint, lease_owner text, lease_pid integer, lease_until bigint);
CREATE TABLE stage_results (run_id text NOT NULL REFERENCES runs(id), stage text NOT NULL, outcome text NOT NULL, reason text NOT NULL,
  code text, evidence text NOT NULL, started_at bigint NOT NULL, finished_at bigint NOT NULL, attempts integer NOT NULL,
  PRIMARY KEY (run_id, stage));
CREATE TABLE events (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at bigint NOT NULL, run_id text, stage text,
  kind text NOT NULL, actor text NOT NULL, data text NOT NULL);
CREATE TABLE manifests (track text NOT NULL, seq bigint NOT NULL, run_id text NOT NULL REFERENCES runs(id), kind text NOT NULL,
  purpose text NOT NULL, version text NOT NULL, commit_sha text NOT NULL, payload bytea NOT NULL, envelope text,
  created_at bigint NOT NULL, PRIMARY KEY (track, seq), UNIQUE (run_id, purpose));
CREATE TABLE kv (key text PRIMARY KEY, value text NOT NULL);`,
};

const MIGRATIONS: PgMigration[] = [...PG_MIGRATIONS.slice(0, 1), STAND_IN_2, PG_MIGRATION_003_FLEET];

/** Registers the partial PostgreSQL adapter for this test file (its server lives as long as `root`). */
export function registerPartialPostgres(root: Test): void {
  if (!postgresAvailable()) return;
  let server: Promise<TestPostgres> | null = null;
  let made = 0;
  registerAdapter({
    name: 'postgres',
    async open(t, clock) {
      server ??= startPostgres(root);
      const db = await server;
      const name = `contract_${++made}`;
      const admin = await db.client();
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      const pool = new pg.Pool({ host: db.host, port: db.port, user: db.user, database: name, max: 4 });
      const c = await pool.connect();
      await migrate(c as unknown as pg.Client, MIGRATIONS);
      c.release();
      t.teardown(() => pool.end());
      return partialStore(pool, () => clock.now());
    },
  });
}

function partialStore(pool: pg.Pool, now: () => number): StateStore {
  const s = poolSession(pool);
  const store = {
    identity: new PgIdentity(s, now),
    fleet: new PgFleetState(s, now),
    tallies: new PgTallies(s, now),
    deployments: new PgDeployments(s, now),
    benchmarkRegistry: new PgBenchmarkRegistry(s, now),
    // plain SQL stand-ins of the StateStore methods the contract tests set up with
    async createRun(r: NewRun) {
      await pool.query(`INSERT INTO runs (id, track, version, ref, commit_sha, status, stage, retry_of, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, 'pending', 'idle', $6, $7, $7)`, [r.id, r.track, r.version, r.ref, r.commit, r.retryOf, r.createdAt]);
    },
    async recordStageResult(r: StageResult) {
      await pool.query(`INSERT INTO stage_results (run_id, stage, outcome, reason, code, evidence, started_at, finished_at, attempts)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [r.runId, r.stage, r.outcome, r.reason, r.code, JSON.stringify(r.evidence), r.startedAt, r.finishedAt, r.attempts]);
    },
    async events(opts: { runId?: string; limit?: number } = {}): Promise<EventRecord[]> {
      const { rows } = await pool.query<Record<string, unknown>>('SELECT * FROM (SELECT * FROM events ORDER BY seq DESC LIMIT $1) e ORDER BY seq', [opts.limit ?? 100]);
      return rows.map((r) => ({
        seq: Number(r.seq), at: Number(r.at), runId: r.run_id as string | null, stage: r.stage as EventRecord['stage'], kind: r.kind as string,
        actor: r.actor as string, data: JSON.parse(r.data as string) as Record<string, unknown>,
      }));
    },
    manifests: {
      async reserve(r: ManifestReservation) {
        return s.write(async (q) => {
          const seq = await nextManifestSeq(q, r.track);
          await q.query(`INSERT INTO manifests (track, seq, run_id, kind, purpose, version, commit_sha, payload, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [r.track, seq, r.runId, r.kind, r.purpose, r.version, r.commit, Buffer.from(r.build(seq)), r.at]);
          return { seq };
        });
      },
    },
    close: () => undefined,
  };
  return store as unknown as StateStore;
}
