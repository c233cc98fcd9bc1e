// The listing of a tree without git metadata (an extracted bundle): every file and symlink
// below the root, with the mode git would give it. Under a tree watch (tree-watch.ts) it is
// kept between passes: the first walks every directory, watching each before reading it,
// and later ones read again only the directories that reported an event, walking any new
// directory they hold the same way. A directory renamed or removed drops the watch, and the
// next pass walks everything again.
import * as fs from 'node:fs';
import { UpshiftError } from '../core/errors.js';
import type { StatCache } from './stat-cache.js';
import type { TreeWatch, WatchPass } from './tree-watch.js';

export interface WalkEntry {
  mode: string;
  oid: string;
  path: string;
}

interface DirListing {
  entries: WalkEntry[];
  subdirs: string[];
}

export interface WalkPass {
  index: WalkEntry[];
  pass: WatchPass | null;
  key: WalkedTree;
}

/** A walked tree: each directory's listing, and all of them in one array (the pass's listing). */
export class WalkedTree {
  readonly dirs = new Map<string, DirListing>();
  listing: WalkEntry[] = [];
}

/** Every file and symlink below `root`; directories are not entries. */
export function walkFiles(root: string): WalkEntry[] {
  const tree = new WalkedTree();
  walkFrom(root, '', tree);
  return flatten(tree);
}

/**
 * The listing of `root` for this pass, kept under `watch` and in `cache` between passes, and
 * what the watch vouches for (null on a pass that walked everything and armed it afresh).
 */
export async function walkWatched(root: string, cache: StatCache, watch: TreeWatch): Promise<WalkPass> {
  cache.use(root);
  const kept = cache.walked instanceof WalkedTree ? cache.walked : null;
  const pass = kept ? await watch.take(root, kept) : null;
  if (kept && pass && refresh(root, kept, pass, watch)) return { index: kept.listing, pass, key: kept };
  const tree = new WalkedTree();
  watch.start(root, tree);
  // a directory the watch refuses is still walked: the pass then stats every file
  walkFrom(root, '', tree, (rel) => watch.add(rel));
  tree.listing = flatten(tree);
  cache.walked = tree;
  return { index: tree.listing, pass: null, key: tree };
}

/** Reads the dirty directories again; false when the tree must be walked afresh. */
function refresh(root: string, tree: WalkedTree, pass: WatchPass, watch: TreeWatch): boolean {
  let changed = false;
  try {
    // parents first, so a new directory is walked once, from its parent
    for (const rel of [...pass.dirty].sort()) {
      const old = tree.dirs.get(rel);
      if (!old) continue; // below a new directory walked just now
      const now = readDir(root, rel);
      // a watched subdirectory gone: its parent's event dropped the watch already
      if (old.subdirs.some((s) => !now.subdirs.includes(s))) return false;
      for (const sub of now.subdirs) {
        if (old.subdirs.includes(sub)) continue;
        walkFrom(root, sub, tree, (r) => watch.add(r));
        changed = true;
      }
      tree.dirs.set(rel, now);
      changed ||= !sameEntries(old.entries, now.entries);
    }
  } catch {
    return false; // a directory gone while read: walk afresh
  }
  if (!watch.has('')) return false;
  // a new array for a new listing: the stat cache reuses a hash only for the very same listing
  if (changed) tree.listing = flatten(tree);
  return true;
}

/** Walks `rel` and every directory below it into `tree`, calling `before` ahead of each read. */
function walkFrom(root: string, rel: string, tree: WalkedTree, before?: (rel: string) => boolean): void {
  const queue = [rel];
  for (let i = 0; i < queue.length; i++) {
    const dir = queue[i]!;
    before?.(dir);
    const listing = readDir(root, dir);
    tree.dirs.set(dir, listing);
    queue.push(...listing.subdirs);
  }
}

function readDir(root: string, rel: string): DirListing {
  const entries: WalkEntry[] = [];
  const subdirs: string[] = [];
  for (const d of fs.readdirSync(rel === '' ? root : `${root}/${rel}`, { withFileTypes: true })) {
    const path = rel === '' ? d.name : `${rel}/${d.name}`;
    if (d.isDirectory()) subdirs.push(path);
    else if (d.isSymbolicLink()) entries.push({ mode: '120000', oid: '', path });
    else if (d.isFile()) entries.push({ mode: executable(`${root}/${path}`) ? '100755' : '100644', oid: '', path });
    else throw new UpshiftError('E_WORKTREE', `${root}/${path} is neither a file, a directory nor a symlink`, { details: { path } });
  }
  return { entries, subdirs };
}

function executable(path: string): boolean {
  return (fs.lstatSync(path).mode & 0o111) !== 0;
}

function flatten(tree: WalkedTree): WalkEntry[] {
  const out: WalkEntry[] = [];
  for (const d of tree.dirs.values()) out.push(...d.entries);
  return out;
}

function sameEntries(a: readonly WalkEntry[], b: readonly WalkEntry[]): boolean {
  if (a.length !== b.length) return false;
  const modes = new Map(a.map((e) => [e.path, e.mode]));
  return b.every((e) => modes.get(e.path) === e.mode);
}
