// SPEC "Node agent": keep `keep_releases` release dirs after a confirmed apply. `current`'s
// target and the release before it are never removed, whatever the count, so a rollback
// always has somewhere to go. The rest are ranked by their last use in the journal;
// directories the journal does not know (left by hand, or by an older install) go first.
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ApplyRecord } from '../../core/records.js';
import type { ApplyContext } from './context.js';
import { currentRelease } from './switch.js';

/** Decide which release names to remove. Pure: the inputs are what was read. */
export function planPrune(p: { names: string[]; keep: number; protect: Array<string | null>; lastUse: Map<string, number>; mtime: Map<string, number> }): string[] {
  const protectedNames = new Set(p.protect.filter((n): n is string => n !== null && p.names.includes(n)));
  const rank = (n: string): [number, number] => [p.lastUse.get(n) ?? -1, p.mtime.get(n) ?? 0];
  const others = p.names
    .filter((n) => !protectedNames.has(n))
    .sort((a, b) => {
      const [ua, ma] = rank(a);
      const [ub, mb] = rank(b);
      return ub - ua || mb - ma || (a < b ? -1 : 1);
    });
  const room = Math.max(0, p.keep - protectedNames.size);
  return others.slice(room);
}

/** Remove release dirs beyond `keep_releases`; returns the names removed. */
export async function pruneReleases(ctx: ApplyContext, confirmed: ApplyRecord): Promise<string[]> {
  const root = join(ctx.appDir, 'releases');
  const names: string[] = [];
  const mtime = new Map<string, number>();
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    names.push(entry.name);
    mtime.set(entry.name, statSync(join(root, entry.name)).mtimeMs);
  }
  const lastUse = new Map<string, number>();
  for (const a of await ctx.deps.tables.list(1000)) {
    if (!lastUse.has(a.releaseDir)) lastUse.set(a.releaseDir, a.id);
  }
  // Read `current` again rather than trusting the record: it is what a rollback would keep.
  const protect = [currentRelease(ctx.appDir), confirmed.releaseDir, confirmed.previousDir];
  const remove = planPrune({ names, keep: ctx.deps.app.keep_releases, protect, lastUse, mtime });
  for (const name of remove) rmSync(join(root, name), { recursive: true, force: true });
  return remove;
}
