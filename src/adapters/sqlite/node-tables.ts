// The node's apply journal and bad-version marks (migration 2). Every state change writes
// the applies row and an append-only apply_steps row in one transaction, so the journal
// never shows a state without the step that explains it (SPEC "Node agent", step 6).
import { UpshiftError } from '../../core/errors.js';
import type { ApplyAlso } from '../../core/store-ports.js';
import type { Db } from './db.js';
import { FloorTable, insertEvent } from './records.js';

export { OPEN_STATES } from '../../core/records.js';
export type { ApplyPatch, ApplyRecord, ApplyState, ApplyStep, BadVersion } from '../../core/records.js';
import { OPEN_STATES, type ApplyPatch, type ApplyRecord, type ApplyState, type ApplyStep, type BadVersion } from '../../core/records.js';

const COLUMNS: Record<keyof ApplyPatch, string> = {
  reason: 'reason', code: 'code', actualCodeHash: 'actual_code_hash', healthyBy: 'healthy_by', healthySince: 'healthy_since', stableUntil: 'stable_until',
};

/** A step state that is no apply state: see noteInterrupted. */
const INTERRUPTED = 'interrupted';
const TERMINAL = new Set<ApplyState>(['confirmed', 'rolled_back', 'failed', 'abandoned']);
const OPEN_LIST = OPEN_STATES.map((s) => `'${s}'`).join(',');

export class NodeTables {
  constructor(private readonly db: Db) {}

  /** Open the journal entry of a verified manifest. E_APPLY_LOCKED if another apply is still open. */
  begin(a: Pick<ApplyRecord, 'track' | 'seq' | 'version' | 'commit' | 'kind' | 'codeHash' | 'releaseDir' | 'previousDir' | 'envelope'>, at: number, note: string): ApplyRecord {
    return this.db.transaction(() => {
      const open = this.open();
      if (open) throw new UpshiftError('E_APPLY_LOCKED', `apply #${open.id} (${open.track} ${open.version}) is still ${open.state}`, { details: { apply: open.id } });
      const res = this.db.prepare(`INSERT INTO applies (track, seq, version, commit_sha, kind, code_hash, release_dir, previous_dir, state, envelope, started_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'verified', ?, ?, ?)`)
        .run(a.track, a.seq, a.version, a.commit, a.kind, a.codeHash, a.releaseDir, a.previousDir, a.envelope, at, at);
      const id = Number(res.lastInsertRowid);
      this.step(id, 'verified', note, at);
      return this.require(id);
    }).immediate();
  }

  /** Move an apply to `state` (or record a note in its current state) with its step row, and `also`. */
  transition(id: number, state: ApplyState, note: string, at: number, patch: ApplyPatch = {}, also: ApplyAlso = {}): ApplyRecord {
    return this.db.transaction(() => {
      const cur = this.require(id);
      if (TERMINAL.has(cur.state)) throw new UpshiftError('E_INTERNAL', `apply #${id} is already ${cur.state}; cannot move it to ${state}`);
      const sets = ['state = ?', 'updated_at = ?', 'finished_at = ?'];
      const values: unknown[] = [state, at, TERMINAL.has(state) ? at : null];
      for (const [k, v] of Object.entries(patch) as Array<[keyof ApplyPatch, unknown]>) {
        if (v === undefined) continue;
        sets.push(`${COLUMNS[k]} = ?`);
        values.push(v);
      }
      this.db.prepare(`UPDATE applies SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
      this.step(id, state, note, at);
      if (also.markBad !== undefined) this.markBad({ track: cur.track, commit: cur.commit, version: cur.version, reason: also.markBad, at });
      if (also.raiseFloor) new FloorTable(this.db).raise(cur.track, cur.seq, at);
      return this.require(id);
    }).immediate();
  }

  /** Run `fn` holding the database's write lock: the processes of this node take turns. */
  serialized(fn: () => void): void {
    this.db.transaction(fn).immediate();
  }

  get(id: number): ApplyRecord | null {
    const r = this.db.prepare('SELECT * FROM applies WHERE id = ?').get(id) as Row | undefined;
    return r ? toApply(r) : null;
  }

  require(id: number): ApplyRecord {
    const a = this.get(id);
    if (!a) throw new UpshiftError('E_INTERNAL', `no apply #${id} in the journal`);
    return a;
  }

  /** The apply that has not reached a final state, if any (at most one). */
  open(): ApplyRecord | null {
    const r = this.db.prepare(`SELECT * FROM applies WHERE state IN (${OPEN_LIST}) ORDER BY id DESC LIMIT 1`).get() as Row | undefined;
    return r ? toApply(r) : null;
  }

  /** The newest apply of each track. */
  latestPerTrack(): ApplyRecord[] {
    const rows = this.db.prepare('SELECT * FROM applies WHERE id IN (SELECT MAX(id) FROM applies GROUP BY track) ORDER BY track').all() as Row[];
    return rows.map(toApply);
  }

  /** Per track, the newest apply that was confirmed: what the node runs after any later rollback. */
  latestConfirmedPerTrack(): ApplyRecord[] {
    const rows = this.db.prepare("SELECT * FROM applies WHERE id IN (SELECT MAX(id) FROM applies WHERE state = 'confirmed' GROUP BY track) ORDER BY track").all() as Row[];
    return rows.map(toApply);
  }

  /** Newest first; used to rank release dirs for pruning. */
  list(limit = 100): ApplyRecord[] {
    return (this.db.prepare('SELECT * FROM applies ORDER BY id DESC LIMIT ?').all(limit) as Row[]).map(toApply);
  }

  steps(id: number): ApplyStep[] {
    const rows = this.db.prepare('SELECT * FROM apply_steps WHERE apply_id = ? ORDER BY seq').all(id) as Array<{ seq: number; apply_id: number; at: number; state: string; note: string }>;
    return rows.map((r) => ({ seq: r.seq, applyId: r.apply_id, at: r.at, state: r.state, note: r.note }));
  }

  /**
   * Journal that an open apply was found after the process running it died (a step row in
   * state 'interrupted'; the apply keeps its state). Written before reconciliation acts, so
   * a crash while reconciling counts too.
   */
  noteInterrupted(id: number, note: string, at: number): void {
    this.step(id, INTERRUPTED, note, at);
  }

  /** How many times applies of this manifest (track, seq, commit) were left open by a dead process. */
  interruptions(track: string, seq: number, commit: string): number {
    const r = this.db.prepare(`SELECT COUNT(*) AS n FROM apply_steps s JOIN applies a ON a.id = s.apply_id
      WHERE s.state = ? AND a.track = ? AND a.seq = ? AND a.commit_sha = ?`).get(INTERRUPTED, track, seq, commit) as { n: number };
    return r.n;
  }

  markBad(b: BadVersion): void {
    this.db.prepare('INSERT INTO bad_versions (track, commit_sha, version, reason, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(track, commit_sha) DO NOTHING')
      .run(b.track, b.commit, b.version, b.reason, b.at);
  }

  /** A mark for this commit, or for this version name under another commit, on the track. */
  badMark(track: string, commit: string, version: string): BadVersion | null {
    const r = this.db.prepare('SELECT * FROM bad_versions WHERE track = ? AND (commit_sha = ? OR version = ?) LIMIT 1').get(track, commit, version) as
      { track: string; commit_sha: string; version: string; reason: string; at: number } | undefined;
    return r ? { track: r.track, commit: r.commit_sha, version: r.version, reason: r.reason, at: r.at } : null;
  }

  /** Remove the marks of a version (by name or commit) on a track; returns what was removed. */
  clearBad(track: string, versionOrCommit: string, audit?: { at: number; actor: string; reason: string }): BadVersion[] {
    return this.db.transaction(() => {
      const gone = this.badVersions().filter((b) => b.track === track && (b.version === versionOrCommit || b.commit === versionOrCommit));
      for (const b of gone) this.db.prepare('DELETE FROM bad_versions WHERE track = ? AND commit_sha = ?').run(b.track, b.commit);
      if (audit && gone.length > 0) {
        insertEvent(this.db, {
          at: audit.at, runId: null, stage: null, kind: 'apply.unmarked', actor: audit.actor,
          data: { track, version: versionOrCommit, reason: audit.reason, cleared: gone.map((b) => b.commit) },
        });
      }
      return gone;
    }).immediate();
  }

  badVersions(): BadVersion[] {
    const rows = this.db.prepare('SELECT * FROM bad_versions ORDER BY at').all() as Array<{ track: string; commit_sha: string; version: string; reason: string; at: number }>;
    return rows.map((r) => ({ track: r.track, commit: r.commit_sha, version: r.version, reason: r.reason, at: r.at }));
  }

  private step(id: number, state: string, note: string, at: number): void {
    this.db.prepare('INSERT INTO apply_steps (apply_id, at, state, note) VALUES (?, ?, ?, ?)').run(id, at, state, note);
  }
}

interface Row {
  id: number; track: string; seq: number; version: string; commit_sha: string; kind: 'release' | 'rollback'; code_hash: string; actual_code_hash: string | null;
  release_dir: string; previous_dir: string | null; state: ApplyState; reason: string | null; code: string | null; healthy_by: number | null;
  healthy_since: number | null; stable_until: number | null; envelope: string; started_at: number; updated_at: number; finished_at: number | null;
}

const toApply = (r: Row): ApplyRecord => ({
  id: r.id, track: r.track, seq: r.seq, version: r.version, commit: r.commit_sha, kind: r.kind, codeHash: r.code_hash, actualCodeHash: r.actual_code_hash,
  releaseDir: r.release_dir, previousDir: r.previous_dir, state: r.state, reason: r.reason, code: r.code, healthyBy: r.healthy_by,
  healthySince: r.healthy_since, stableUntil: r.stable_until, envelope: r.envelope, startedAt: r.started_at, updatedAt: r.updated_at, finishedAt: r.finished_at,
});
