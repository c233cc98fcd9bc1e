// A watch on a release tree's directories for re-attestation (issue 9): with it, a pass
// lstat()s only the entries of directories that reported an event since the last pass and
// takes the stat cache's word for the rest. One non-recursive fs.watch per directory (an
// inotify watch reports changes to the entries of its directory: writes, chmod, creates,
// deletes, renames), none per file, so 10k files in ~100 directories cost ~100 watches.
//
// It fails closed: a watcher error, an inotify queue overflow (libuv drops the overflow
// event, so a burst as large as the kernel queue counts as one), a directory it could not
// watch (ENOSPC past fs.inotify.max_user_watches, a symlink where a directory should be), a
// watched directory renamed or removed, or another tree or listing all leave it unarmed, and
// the caller then stats every file and arms it again. Writes that inotify does not report
// for the tree's directories (through a shared mmap, or through a hard link made elsewhere
// after arming) are only found by the full re-hash (app.attest_full_every).
import * as fs from 'node:fs';
import { basename } from 'node:path';

export interface TreeWatchOptions {
  /** More directories than this are not watched (the full stat walk instead). Default 10 000. */
  maxDirs?: number;
  /** Events in one delivery burst that count as a queue overflow. Default: half of max_queued_events. */
  overflowBurst?: number;
  /** fs.watch; tests wrap it to see the watchers or to refuse one as the kernel would. */
  watchFn?: typeof fs.watch;
}

/** What a pass may skip: directories that reported nothing since their last pass. */
export interface WatchPass {
  dirty: ReadonlySet<string>;
  /** The generation of each dirty directory's last event, for commit(). */
  gens: ReadonlyMap<string, number>;
}

export class TreeWatch {
  private root: string | null = null;
  private key: unknown = null;
  private watchers: fs.FSWatcher[] = [];
  private dirs = new Set<string>();
  /** Directory -> generation of its latest event; cleared by a pass that stat'ed it. */
  private dirty = new Map<string, number>();
  private gen = 0;
  private burst = 0;
  private armed = false;
  /**
   * Whether a pass over the whole tree finished after arming: until then the stat cache may
   * hold entries older than the watch (recorded before it, or a pass that failed midway).
   */
  private confirmed = false;
  /** Why the watch last dropped (for logs and tests); null if it never did. */
  lastFailure: string | null = null;
  private readonly maxDirs: number;
  private readonly overflowBurst: number;
  private readonly watchFn: typeof fs.watch;

  constructor(opts: TreeWatchOptions = {}) {
    this.maxDirs = opts.maxDirs ?? 10_000;
    this.overflowBurst = opts.overflowBurst ?? Math.floor(maxQueuedEvents() / 2);
    this.watchFn = opts.watchFn ?? fs.watch;
  }

  /** Watchers open now (one per directory while armed). */
  get size(): number {
    return this.watchers.length;
  }

  get isArmed(): boolean {
    return this.armed;
  }

  /**
   * Watches `dirs` (relative to `root`, '' is the root; parents before children) for the
   * listing `key`, before the caller's stat walk: a change after this is reported, one
   * before it is seen by that walk. False (and nothing watched) when any of them fails.
   */
  arm(root: string, key: unknown, dirs: readonly string[]): boolean {
    this.close();
    if (dirs.length > this.maxDirs) return this.fail(`${dirs.length} directories, more than ${this.maxDirs}`);
    this.start(root, key);
    for (const rel of dirs) if (!this.add(rel)) return false;
    return true;
  }

  /** A watch of `root` for `key` with no directory yet: add() each before reading it, parents first. */
  start(root: string, key: unknown): void {
    this.close();
    this.root = root;
    this.key = key;
    this.armed = true;
  }

  /** Whether the directory `rel` is watched. */
  has(rel: string): boolean {
    return this.armed && this.dirs.has(rel);
  }

  /** Watches one more directory; false (and the whole watch dropped) when it cannot. */
  add(rel: string): boolean {
    const root = this.root;
    if (!this.armed || root === null) return false;
    if (this.dirs.size >= this.maxDirs) return this.fail(`more than ${this.maxDirs} directories`);
    const abs = rel === '' ? root : `${root}/${rel}`;
    this.dirs.add(rel);
    try {
      const before = fs.lstatSync(abs, { bigint: true });
      // inotify follows a symlink: one here would watch a directory outside the tree
      if (!before.isDirectory()) return this.fail(`${abs} is not a directory`);
      const w = this.watchFn(abs, { persistent: false }, (event, name) => this.onEvent(rel, abs, event, name));
      this.watchers.push(w);
      w.on('error', (err) => this.fail(`watcher of ${abs}: ${err.message}`));
      const after = fs.lstatSync(abs, { bigint: true });
      if (!after.isDirectory() || after.ino !== before.ino || after.dev !== before.dev) return this.fail(`${abs} was replaced while watched`);
    } catch (err) {
      // ENOSPC: fs.inotify.max_user_watches reached; ENOENT: a directory went away
      return this.fail(`cannot watch ${abs}: ${(err as Error).message}`);
    }
    return true;
  }

  /** The pass that armed the watch stat'ed every file and finished: passes may now skip. */
  confirm(root: string, key: unknown): void {
    if (this.armed && this.root === root && this.key === key) this.confirmed = true;
  }

  /**
   * The directories the pass must stat, or null when the watch cannot vouch for `root` and
   * `key` (the caller stats everything and arms again). Waits first for every event the
   * kernel queued before the call to be delivered: two turns of the event loop (a setImmediate
   * runs after a poll phase, and the second one after a poll phase begun after the call).
   */
  async take(root: string, key: unknown): Promise<WatchPass | null> {
    if (!this.vouchesFor(root, key)) return null;
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    if (!this.vouchesFor(root, key)) return null;
    return { dirty: new Set(this.dirty.keys()), gens: new Map(this.dirty) };
  }

  /** The pass stat'ed these directories: forget them unless an event came since take(). */
  commit(pass: WatchPass): void {
    for (const [dir, gen] of pass.gens) if (this.dirty.get(dir) === gen) this.dirty.delete(dir);
  }

  /** Stops every watcher (a release change, the full re-hash, stop). */
  close(): void {
    this.armed = false;
    this.confirmed = false;
    for (const w of this.watchers.splice(0)) w.close();
    this.dirty.clear();
    this.dirs.clear();
    this.root = null;
    this.key = null;
  }

  private vouchesFor(root: string, key: unknown): boolean {
    return this.armed && this.confirmed && this.root === root && this.key === key;
  }

  private fail(reason: string): false {
    this.close();
    this.lastFailure = reason;
    return false;
  }

  private onEvent(rel: string, abs: string, event: string, name: string | Buffer | null): void {
    if (!this.armed) return;
    // every event of one inotify read is delivered before the next turn of the loop
    if (this.burst++ === 0) setImmediate(() => (this.burst = 0));
    if (this.burst >= this.overflowBurst) return void this.fail('a burst of events near the inotify queue\'s size: it may have overflowed');
    if (name === null) return void this.fail(`an event without a name in ${abs}`);
    const entry = name.toString();
    const child = rel === '' ? entry : `${rel}/${entry}`;
    // a watched directory moved, removed or replaced (or the directory itself: its own name)
    if (event === 'rename' && (this.dirs.has(child) || entry === basename(abs))) {
      return void this.fail(`directory ${this.dirs.has(child) ? child : abs} renamed or removed`);
    }
    this.dirty.set(rel, ++this.gen);
  }
}

/** The directory of a tree-relative path ('' for the root). */
export function dirOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/** Every directory holding one of `paths`, '' (the root) first and each parent before its children. */
export function dirsOf(paths: Iterable<string>): string[] {
  const seen = new Set<string>(['']);
  const out = [''];
  const add = (dir: string): void => {
    if (seen.has(dir)) return;
    add(dirOf(dir));
    seen.add(dir);
    out.push(dir);
  };
  for (const p of paths) add(dirOf(p));
  return out;
}

/** fs.inotify.max_user_watches' sibling: how many events the kernel queues before it drops them. */
function maxQueuedEvents(): number {
  try {
    const n = Number(fs.readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8').trim());
    if (Number.isInteger(n) && n > 1) return n;
  } catch {
    // not Linux, or no /proc: the kernel default
  }
  return 16384;
}
