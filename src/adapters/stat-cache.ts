// A stat cache for re-attesting a release tree (app.attest_every), as git's index does it: a
// file whose inode, size, mtime and ctime are what they were when it was hashed keeps its
// hash. A user can set mtime (utimes) but not ctime, and any write moves ctime, so a changed
// file shows a changed key. Git's racy-timestamp rule covers the rest: a file changed in the
// same timestamp tick as our read would keep its key, so an entry whose mtime or ctime is not
// older than the time it was recorded (less `slackMs`, for coarse filesystem clocks and
// timestamps) is not trusted and is hashed again next time. A full re-hash now and then
// (app.attest_full_every) does not rely on the cache at all.
import type { BigIntStats } from 'node:fs';

export interface StatCacheOptions {
  /** Wall clock in ms; tests pass a fake one. */
  now?: () => number;
  /**
   * How much older than the recording a timestamp must be to be trusted: file timestamps come
   * from the kernel's coarse clock and some filesystems round them to 1–2 s. Default 3 s.
   */
  slackMs?: number;
}

interface Entry {
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  sha256: string;
  /** Hard links: a file linked elsewhere can change without an event in its directory (tree-watch.ts). */
  nlink: bigint;
  /** Whether the timestamps were older than the recording by more than the slack. */
  settled: boolean;
}

export class StatCache {
  private root: string | null = null;
  private entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly slackNs: bigint;

  constructor(opts: StatCacheOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.slackNs = BigInt(opts.slackMs ?? 3000) * 1_000_000n;
  }

  /** The tree's listing (git ls-files), kept under the index file's stat key. */
  private kept: { key: Entry; listing: readonly unknown[] } | null = null;

  /**
   * The code hash last computed, with the listing it was computed over (by identity: the kept
   * listing object) and what it took besides regular files (symlink and gitlink hashes).
   */
  private result: { listing: readonly unknown[]; others: string; hash: string } | null = null;

  /** A walked tree's listing (walk-tree.ts), kept while a tree watch vouches for it. */
  walked: unknown = null;

  /** Entries hold for one tree: another root (a switch to a new release) starts empty. */
  use(root: string): void {
    if (root === this.root) return;
    this.root = root;
    this.clear();
  }

  /** Forget everything (the full re-hash). */
  clear(): void {
    this.entries.clear();
    this.kept = null;
    this.walked = null;
    this.result = null;
  }

  /**
   * The hash computed last time over this very listing, for a pass where every regular file
   * hit (so each has the hash it had then) and `others` is unchanged; else null.
   */
  resultFor(listing: readonly unknown[], others: string): string | null {
    const r = this.result;
    return r !== null && r.listing === listing && r.others === others ? r.hash : null;
  }

  keepResult(listing: readonly unknown[], others: string, hash: string): void {
    this.result = { listing, others, hash };
  }

  /** Whether the last pass was over this very listing (then no tracked path went away since). */
  lastListingIs(listing: readonly unknown[]): boolean {
    return this.result?.listing === listing;
  }

  /** The listing kept for an index file with this stat, if unchanged and settled. */
  listing(st: BigIntStats): readonly unknown[] | null {
    const k = this.kept;
    return k !== null && k.key.settled && sameKey(k.key, st) ? k.listing : null;
  }

  keepListing(st: BigIntStats, listing: readonly unknown[], markedAt: bigint): void {
    this.kept = { key: this.entryOf(st, '', markedAt), listing };
  }

  get size(): number {
    return this.entries.size;
  }

  /** The recorded hash of `path` if its stat is unchanged and was settled when recorded, else null. */
  lookup(path: string, st: BigIntStats): string | null {
    const e = this.entries.get(path);
    return e !== undefined && e.settled && st.isFile() && sameKey(e, st) ? e.sha256 : null;
  }

  /**
   * The recorded hash of `path` without a stat, for a file whose directory the tree watch
   * says is untouched since it was recorded: only a settled entry with no other hard link.
   */
  trusted(path: string): { sha256: string; size: bigint } | null {
    const e = this.entries.get(path);
    return e !== undefined && e.settled && e.nlink === 1n ? { sha256: e.sha256, size: e.size } : null;
  }

  /** The time to pass to record() for files stat'ed from now on: take it before the stats. */
  mark(): bigint {
    return BigInt(Math.floor(this.now())) * 1_000_000n;
  }

  /** `st` was taken before the read that gave `sha256`, and `markedAt` (mark()) before `st`. */
  record(path: string, st: BigIntStats, sha256: string, markedAt: bigint): void {
    this.entries.set(path, this.entryOf(st, sha256, markedAt));
  }

  /** The racy rule: both timestamps older than the recording by more than the slack. */
  private entryOf(st: BigIntStats, sha256: string, markedAt: bigint): Entry {
    const cutoff = markedAt - this.slackNs;
    const settled = st.mtimeNs < cutoff && st.ctimeNs < cutoff;
    return { ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, sha256, nlink: st.nlink, settled };
  }

  /** Drop entries for paths no longer tracked. */
  keepOnly(paths: ReadonlySet<string>): void {
    for (const path of this.entries.keys()) if (!paths.has(path)) this.entries.delete(path);
  }
}

function sameKey(e: Entry, st: BigIntStats): boolean {
  return e.ino === st.ino && e.size === st.size && e.mtimeNs === st.mtimeNs && e.ctimeNs === st.ctimeNs;
}
