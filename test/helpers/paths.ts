// Files of the repository, found by walking up to package.json from the compiled tests
// (dist/test/, what tap runs): never build a path from import.meta.url by counting `..`.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above test/helpers');
    dir = up;
  }
  return dir;
}

export const REPO_ROOT = findRoot();
/** The built CLI (`npm run build`: a one-line import of dist/bundle/main.js). */
export const CLI_PATH = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
/** A file of the repository, by its path from the root: repoPath('systemd', 'upshift.service'). */
export const repoPath = (...parts: string[]): string => join(REPO_ROOT, ...parts);
