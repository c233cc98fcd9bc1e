// The benchmark registry over PostgreSQL (migration 3's benchmark_repos and
// benchmark_captures), as adapters/sqlite/benchmark-registry.ts.
import type { BenchmarkRegistryStore } from '../../core/store-ports.js';
import type { BenchmarkCapture, BenchmarkRepo, Tier } from '../../core/records.js';
import type { Metrics } from '../../core/decisions/benchmark.js';
import type { PgSession, Queryable } from './session.js';
import { num } from './seq-line.js';

type Row = Record<string, unknown>;

export class PgBenchmarkRegistry implements BenchmarkRegistryStore {
  constructor(private readonly session: PgSession, readonly now: () => number) {}

  async repos(): Promise<BenchmarkRepo[]> {
    return this.session.read(async (q) => (await q.query<Row>('SELECT * FROM benchmark_repos ORDER BY name COLLATE "C"')).rows.map(toRepo));
  }

  async repo(name: string): Promise<BenchmarkRepo | null> {
    return this.session.read(async (q) => {
      const r = (await q.query<Row>('SELECT * FROM benchmark_repos WHERE name = $1', [name])).rows[0];
      return r ? toRepo(r) : null;
    });
  }

  /** Insert, or re-pin a repository registered under the same name from the same URL. */
  async save(r: BenchmarkRepo): Promise<void> {
    await this.session.write((q) => q.query(`INSERT INTO benchmark_repos (name, repo_url, ref, commit_sha, command, tier, registered_at, registered_by)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
      ON CONFLICT (name) DO UPDATE SET ref = excluded.ref, commit_sha = excluded.commit_sha, command = excluded.command,
        tier = excluded.tier, registered_at = excluded.registered_at, registered_by = excluded.registered_by
      WHERE benchmark_repos.repo_url = excluded.repo_url`,
    [r.name, r.repoUrl, r.ref, r.commit, r.command, r.tier, r.registeredAt, r.registeredBy]));
  }

  async saveCapture(c: Omit<BenchmarkCapture, 'id'>): Promise<number> {
    return this.session.write((q) => insertCapture(q, c));
  }

  async saveCaptures(cs: Array<Omit<BenchmarkCapture, 'id'>>): Promise<number[]> {
    return this.session.write(async (q) => {
      const ids: number[] = [];
      for (const c of cs) ids.push(await insertCapture(q, c));
      return ids;
    });
  }

  /** Captures, newest first. */
  async captures(limit = 1000): Promise<BenchmarkCapture[]> {
    return this.session.read(async (q) => {
      const { rows } = await q.query<Row>('SELECT * FROM benchmark_captures ORDER BY id DESC LIMIT $1', [limit]);
      return rows.map((r) => ({
        id: num(r.id), suite: r.suite as string, version: r.version as string, commit: r.commit_sha as string,
        tier: r.tier as Tier, metrics: JSON.parse(r.metrics as string) as Metrics, samples: JSON.parse(r.samples as string) as unknown[],
        createdAt: num(r.created_at), actor: r.actor as string,
      }));
    });
  }
}

async function insertCapture(q: Queryable, c: Omit<BenchmarkCapture, 'id'>): Promise<number> {
  const { rows } = await q.query<{ id: string }>(`INSERT INTO benchmark_captures (suite, version, commit_sha, tier, metrics, samples, created_at, actor)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
  [c.suite, c.version, c.commit, c.tier, JSON.stringify(c.metrics), JSON.stringify(c.samples), c.createdAt, c.actor]);
  return num(rows[0]?.id);
}

const toRepo = (r: Row): BenchmarkRepo => ({
  name: r.name as string, repoUrl: r.repo_url as string, ref: r.ref as string, commit: r.commit_sha as string,
  command: r.command as string, tier: r.tier as Tier, registeredAt: num(r.registered_at), registeredBy: r.registered_by as string,
});
