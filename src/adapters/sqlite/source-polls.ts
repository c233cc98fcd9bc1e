// The last poll of the authority's source (migration 6): when, whether the fetch worked,
// and per branch track whether its branch exists. Written by the authority's loop, read
// by readiness, status and metrics.
import type { Db } from './db.js';

import type { BranchPresence, SourcePoll } from '../../core/records.js';

export type { BranchPresence, SourcePoll } from '../../core/records.js';

export class SourcePollTable {
  constructor(private readonly db: Db) {}

  last(): SourcePoll | null {
    const r = this.db.prepare('SELECT at, ok, code, message FROM source_poll WHERE id = 1').get() as
      { at: number; ok: number; code: string | null; message: string | null } | undefined;
    return r ? { at: r.at, ok: r.ok === 1, code: r.code, message: r.message } : null;
  }

  branches(): BranchPresence[] {
    const rows = this.db.prepare('SELECT track, branch, present, checked_at FROM source_branches ORDER BY track').all() as
      Array<{ track: string; branch: string; present: number; checked_at: number }>;
    return rows.map((r) => ({ track: r.track, branch: r.branch, present: r.present === 1, checkedAt: r.checked_at }));
  }

  /** A good poll: the branch rows are replaced, so a track dropped from the config goes with them. */
  recordSuccess(at: number, branches: Array<{ track: string; branch: string; present: boolean }>): void {
    this.db.transaction(() => {
      this.put(at, null);
      this.db.prepare('DELETE FROM source_branches').run();
      const insert = this.db.prepare('INSERT INTO source_branches (track, branch, present, checked_at) VALUES (?, ?, ?, ?)');
      for (const b of branches) insert.run(b.track, b.branch, b.present ? 1 : 0, at);
    }).immediate();
  }

  /** A failed poll learns nothing about branches: the rows of the last good poll stay. */
  recordFailure(at: number, error: { code: string; message: string }): void {
    this.put(at, error);
  }

  private put(at: number, error: { code: string; message: string } | null): void {
    this.db.prepare(`INSERT INTO source_poll (id, at, ok, code, message) VALUES (1, ?, ?, ?, ?)
      ON CONFLICT(id) DO UPDATE SET at = excluded.at, ok = excluded.ok, code = excluded.code, message = excluded.message`)
      .run(at, error ? 0 : 1, error?.code ?? null, error?.message ?? null);
  }
}
