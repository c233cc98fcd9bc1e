// The benchmark registry's tables (migration 10): registered benchmark repositories and
// on-demand captures. The store hands it out as store.benchmarkRegistry (core/store-ports.ts).
import type { Db } from './db.js';
import type { BenchmarkCapture, BenchmarkRepo, Tier } from '../../core/records.js';
import type { Metrics } from '../../core/decisions/benchmark.js';

export type { BenchmarkCapture, BenchmarkRepo, Tier } from '../../core/records.js';


export class BenchmarkRegistry {
  constructor(private readonly db: Db) {}

  repos(): BenchmarkRepo[] {
    const rows = this.db.prepare('SELECT * FROM benchmark_repos ORDER BY name').all() as Array<Record<string, unknown>>;
    return rows.map(toRepo);
  }

  repo(name: string): BenchmarkRepo | null {
    const r = this.db.prepare('SELECT * FROM benchmark_repos WHERE name = ?').get(name) as Record<string, unknown> | undefined;
    return r ? toRepo(r) : null;
  }

  /** Insert, or re-pin a repository registered under the same name from the same URL. */
  save(r: BenchmarkRepo): void {
    this.db.prepare(`INSERT INTO benchmark_repos (name, repo_url, ref, commit_sha, command, tier, registered_at, registered_by)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(name) DO UPDATE SET ref = excluded.ref, commit_sha = excluded.commit_sha, command = excluded.command,
        tier = excluded.tier, registered_at = excluded.registered_at, registered_by = excluded.registered_by
      WHERE repo_url = excluded.repo_url`)
      .run(r.name, r.repoUrl, r.ref, r.commit, r.command, r.tier, r.registeredAt, r.registeredBy);
  }

  saveCapture(c: Omit<BenchmarkCapture, 'id'>): number {
    const info = this.db.prepare(`INSERT INTO benchmark_captures (suite, version, commit_sha, tier, metrics, samples, created_at, actor)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(c.suite, c.version, c.commit, c.tier, JSON.stringify(c.metrics), JSON.stringify(c.samples), c.createdAt, c.actor);
    return Number(info.lastInsertRowid);
  }

  saveCaptures(cs: Array<Omit<BenchmarkCapture, 'id'>>): number[] {
    return this.db.transaction(() => cs.map((c) => this.saveCapture(c)))();
  }

  /** Captures, newest first. */
  captures(limit = 1000): BenchmarkCapture[] {
    const rows = this.db.prepare('SELECT * FROM benchmark_captures ORDER BY id DESC LIMIT ?').all(limit) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      id: r.id as number, suite: r.suite as string, version: r.version as string, commit: r.commit_sha as string,
      tier: r.tier as Tier, metrics: JSON.parse(r.metrics as string) as Metrics, samples: JSON.parse(r.samples as string) as unknown[],
      createdAt: r.created_at as number, actor: r.actor as string,
    }));
  }
}

const toRepo = (r: Record<string, unknown>): BenchmarkRepo => ({
  name: r.name as string, repoUrl: r.repo_url as string, ref: r.ref as string, commit: r.commit_sha as string,
  command: r.command as string, tier: r.tier as Tier, registeredAt: r.registered_at as number, registeredBy: r.registered_by as string,
});
