// Code that finds upshift's own files (package.json, the CLI for `upshift demo`) finds them
// wherever it runs from: the bundle (dist/bundle/), the per-file build (dist/src/cli/) or the
// sources. `upshift demo` once looked for the CLI four directories above the bundle.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { defaultCliPath } from '../../scripts/demo/fleet.js';
import { packageRoot, upshiftVersion } from '../../src/cli/version.js';
import { REPO_ROOT, repoPath } from '../helpers/paths.js';

t.test('the package root and version from every place the code runs', async (t) => {
  const version = (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string }).version;
  for (const from of [['dist', 'bundle', 'chunk-X.js'], ['dist', 'src', 'cli', 'main.js'], ['dist', 'scripts', 'demo', 'fleet.js'], ['src', 'cli', 'version.ts']]) {
    const url = pathToFileURL(repoPath(...from)).href;
    t.equal(packageRoot(url), REPO_ROOT, from.join('/'));
    t.equal(upshiftVersion(url), version, `${from.join('/')}: the version`);
  }
  t.throws(() => packageRoot('file:///usr/lib/x.js'), /package\.json not found/, 'nowhere near: said, not guessed');
});

t.test('upshift demo starts the built CLI', async (t) => {
  t.equal(defaultCliPath(), repoPath('dist', 'src', 'cli', 'main.js'));
  t.ok(existsSync(defaultCliPath()));
});
