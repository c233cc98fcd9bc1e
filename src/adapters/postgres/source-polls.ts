// The last poll of the authority's source on PostgreSQL: when, whether the fetch worked, and
// per branch track whether its branch exists (as adapters/sqlite/source-polls.ts).
import type { BranchPresence, SourcePoll } from '../../core/records.js';
import type { PgSession, Queryable } from './session.js';
import { all, num, one } from './sql.js';

async function put(q: Queryable, at: number, error: { code: string; message: string } | null): Promise<void> {
  await q.query(`INSERT INTO source_poll (id, at, ok, code, message) VALUES (1, $1, $2, $3, $4)
    ON CONFLICT (id) DO UPDATE SET at = excluded.at, ok = excluded.ok, code = excluded.code, message = excluded.message`,
  [at, error ? 0 : 1, error?.code ?? null, error?.message ?? null]);
}

export class PgSourcePolls {
  constructor(private readonly s: PgSession) {}

  last(): Promise<SourcePoll | null> {
    return this.s.read(async (q) => {
      const r = await one(q, 'SELECT at, ok, code, message FROM source_poll WHERE id = 1');
      if (!r) return null;
      return { at: num(r.at), ok: num(r.ok) === 1, code: r.code as string | null, message: r.message as string | null };
    });
  }

  branches(): Promise<BranchPresence[]> {
    return this.s.read(async (q) => (await all(q, 'SELECT track, branch, present, checked_at FROM source_branches ORDER BY track'))
      .map((r) => ({
        track: r.track as string, branch: r.branch as string, present: num(r.present) === 1, checkedAt: num(r.checked_at),
      })));
  }

  /** A good poll: the branch rows are replaced, so a track dropped from the config goes with them. */
  async recordSuccess(at: number, branches: Array<{ track: string; branch: string; present: boolean }>): Promise<void> {
    await this.s.write(async (q) => {
      await put(q, at, null);
      await q.query('DELETE FROM source_branches');
      for (const b of branches) {
        await q.query('INSERT INTO source_branches (track, branch, present, checked_at) VALUES ($1, $2, $3, $4)',
          [b.track, b.branch, b.present ? 1 : 0, at]);
      }
    });
  }

  /** A failed poll learns nothing about branches: the rows of the last good poll stay. */
  async recordFailure(at: number, error: { code: string; message: string }): Promise<void> {
    await this.s.write((q) => put(q, at, error));
  }
}
