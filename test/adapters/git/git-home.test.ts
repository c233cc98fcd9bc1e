// git's HOME (src/adapters/git-safety.ts): one empty directory per user, kept, so a process
// that dies without its exit handlers (kill -9) leaves nothing behind in /tmp; and a path
// that is not ours as made is never used. Each case is a child process with its own TMPDIR.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { repoPath } from '../../helpers/paths.js';
import { spawnChild } from '../../helpers/procs.js';
import { tempDir } from '../../helpers/tmp.js';

const SAFETY = pathToFileURL(repoPath('dist', 'src', 'adapters', 'git-safety.js')).href;
const PRINT = `const { gitEnv } = await import(${JSON.stringify(SAFETY)}); console.log(gitEnv().HOME);`;
const shared = (tmp: string) => join(tmp, `upshift-git-home-${process.getuid!()}`);
const homes = (tmp: string) => readdirSync(tmp).filter((n) => n.startsWith('upshift-git-home-')).sort();

function homeOf(tmp: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', PRINT], { env: { ...process.env, TMPDIR: tmp }, encoding: 'utf8', timeout: 60_000 }).trim();
}

t.test('every process uses the same per-user directory, mode 0700, and it stays', async (t) => {
  const tmp = tempDir(t);
  t.equal(homeOf(tmp), shared(tmp));
  t.equal(homeOf(tmp), shared(tmp), 'a second process: the same one');
  t.equal(statSync(shared(tmp)).mode & 0o777, 0o700);
  t.same(homes(tmp), [`upshift-git-home-${process.getuid!()}`], 'nothing else made');
});

t.test('a process killed with SIGKILL leaves no directory behind', async (t) => {
  const tmp = tempDir(t);
  const child = spawnChild(t, process.execPath, ['--input-type=module', '-e', `${PRINT} setInterval(() => {}, 1000);`], { env: { TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  t.equal(line.toString().trim(), shared(tmp));
  child.kill('SIGKILL');
  await once(child, 'exit');
  t.same(homes(tmp), [`upshift-git-home-${process.getuid!()}`]);
});

const notOurs: Record<string, (dir: string) => void> = {
  'group- and world-readable': (dir) => {
    mkdirSync(dir);
    chmodSync(dir, 0o755);
  },
  'a link to an empty directory of ours': (dir) => {
    mkdirSync(`${dir}-target`, { mode: 0o700 });
    symlinkSync(`${dir}-target`, dir);
  },
  'not empty': (dir) => {
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, '.gitconfig'), '[core]\n\tfsmonitor = /tmp/evil\n');
  },
  'a file': (dir) => writeFileSync(dir, ''),
};

for (const [name, make] of Object.entries(notOurs)) {
  t.test(`a shared path that is ${name} is not used: a private one, removed at exit`, async (t) => {
    const tmp = tempDir(t);
    make(shared(tmp));
    const before = homes(tmp);
    const home = homeOf(tmp);
    t.not(home, shared(tmp));
    t.match(home, new RegExp(`^${tmp}/upshift-git-home-`));
    t.notOk(existsSync(home), 'removed when the process exited');
    t.same(homes(tmp), before, 'the shared path left as it was');
  });
}
