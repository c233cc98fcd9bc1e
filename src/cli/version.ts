// upshift's package: its root directory (where package.json is) and its version, found above
// the running code: three directories up in the per-file build (dist/src/cli/), two in the
// bundle (dist/bundle/) and from sources.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackage(from: string): { root: string; version: string } {
  let dir = dirname(fileURLToPath(from));
  for (let up = 0; up < 4; up++, dir = dirname(dir)) {
    let pkg: { name?: unknown; version?: unknown };
    try {
      pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as typeof pkg;
    } catch {
      continue;
    }
    if (pkg.name === 'upshift' && typeof pkg.version === 'string') return { root: dir, version: pkg.version };
  }
  throw new Error(`upshift's package.json not found above ${fileURLToPath(from)}`);
}

export const upshiftVersion = (from: string = import.meta.url): string => findPackage(from).version;

/** The directory that holds upshift's package.json (and dist/). */
export const packageRoot = (from: string = import.meta.url): string => findPackage(from).root;
