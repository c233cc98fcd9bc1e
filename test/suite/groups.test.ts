// tap's own list (`tap list`, from .taprc) and the groups (test/helpers/group.ts) together run
// every compiled test file exactly once: a file of a grouped directory only in its group, any
// other file on its own.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from 'tap';
import { GROUP_FILE } from '../helpers/group.js';
import { repoPath, REPO_ROOT } from '../helpers/paths.js';

const listed = new Set(execFileSync(process.execPath, [repoPath('node_modules', '.bin', 'tap'), 'list'], { cwd: REPO_ROOT, encoding: 'utf8' })
  .split('\n').filter(Boolean));
const all = readdirSync(repoPath('dist', 'test'), { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.test.js') && !/(^|\/)fixture/.test(f))
  .map((f) => join('dist', 'test', f));

t.test('every test file runs exactly once: in its directory\'s group, or on its own', async (t) => {
  const wrong: string[] = [];
  for (const file of all) {
    const group = join(dirname(file), GROUP_FILE);
    const grouped = file !== group && existsSync(join(REPO_ROOT, group));
    if (grouped ? listed.has(file) : !listed.has(file)) wrong.push(`${file}: ${grouped ? 'run by its group and by tap' : 'never run'}`);
  }
  t.same(wrong, [], 'the exclude list in .taprc names exactly the grouped directories');
  const groups = [...listed].filter((f) => f.endsWith(`/${GROUP_FILE}`));
  t.ok(all.length > 100 && groups.length > 5, `${all.length} files; ${listed.size} run by tap, ${groups.length} of them groups`);
});
