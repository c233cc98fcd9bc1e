// test/helpers/group.ts: the files of a group run one after another, each one's tests one at a
// time and finished before the next file is imported; a file may await its own tests at its
// top level; a top-level teardown (which makes tap end the top level when idle) does not end
// the group before its next file.
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { repoPath } from '../helpers/paths.js';
import { spawnChild } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';

// the fixtures live in a temp dir: they import tap by its resolved URL, the same module group.js uses
const TAP = import.meta.resolve('tap');
const A = `import t from '${TAP}';
import { appendFileSync } from 'node:fs';
const log = (s) => appendFileSync(process.env.GROUP_LOG, s + '\\n');
for (const n of [1, 2, 3]) t.test('a' + n, async (t) => { log('a' + n + '+'); await new Promise((r) => setTimeout(r, 20)); log('a' + n + '-'); t.pass(); });
t.teardown(() => log('a-teardown'));
`;
const B = `import t from '${TAP}';
import { appendFileSync } from 'node:fs';
const log = (s) => appendFileSync(process.env.GROUP_LOG, s + '\\n');
log('b-import');
await new Promise((r) => setTimeout(r, 50));
await t.test('b1', async (t) => { log('b1'); t.pass(); });
t.test('b2', async (t) => { log('b2'); t.pass(); });
`;

t.test('a group runs its files in order, each test alone, through a top-level teardown', async (t) => {
  const dir = tempDir(t, 'upshift-group-');
  const logFile = join(dir, 'log');
  writeFileSync(join(dir, 'a.test.js'), A);
  writeFileSync(join(dir, 'b.test.js'), B);
  const helper = pathToFileURL(repoPath('dist', 'test', 'helpers', 'group.js')).href;
  writeFileSync(join(dir, 'group.test.js'), `import { runGroup } from '${helper}';\nawait runGroup(import.meta.url);\n`);
  const child = spawnChild(t, process.execPath, [join(dir, 'group.test.js')], { cwd: repoPath(), env: { GROUP_LOG: logFile }, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout?.on('data', (c: Buffer) => { stdout += c; });
  const [code] = await once(child, 'exit');
  t.equal(code, 0, stdout);
  t.same(readFileSync(logFile, 'utf8').trim().split('\n'),
    ['a1+', 'a1-', 'a2+', 'a2-', 'a3+', 'a3-', 'b-import', 'b1', 'b2', 'a-teardown']);
  const points = [...stdout.matchAll(/^ok \d+ - (.+?)(?: \{| # time=.*)?$/gm)].map((m) => m[1]);
  t.same(points, ['a.test.js', 'a1', 'a2', 'a3', 'b.test.js', 'b1', 'b2'], 'each file named before its tests');
});
