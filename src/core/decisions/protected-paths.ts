// Which protected files differ between two trees. Pure: takes the trees, returns the list.
import picomatch from 'picomatch';
import type { TreeEntry } from '../ports.js';

export interface PathChange {
  path: string;
  change: 'added' | 'removed' | 'modified' | 'mode';
}

export function protectedPathChanges(globs: string[], before: TreeEntry[], after: TreeEntry[]): PathChange[] {
  const isProtected = picomatch(globs, { dot: true });
  const old = new Map(before.filter((e) => isProtected(e.path)).map((e) => [e.path, e]));
  const now = new Map(after.filter((e) => isProtected(e.path)).map((e) => [e.path, e]));
  const changes: PathChange[] = [];
  for (const [path, e] of now) {
    const o = old.get(path);
    if (!o) changes.push({ path, change: 'added' });
    else if (o.oid !== e.oid) changes.push({ path, change: 'modified' });
    else if (o.mode !== e.mode) changes.push({ path, change: 'mode' });
  }
  for (const path of old.keys()) if (!now.has(path)) changes.push({ path, change: 'removed' });
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
