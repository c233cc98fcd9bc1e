// scripts/install.sh and uninstall.sh into a temp root (systemd is not PID 1 here): the user,
// the directories and their modes, the program where the units' ExecStart expects it, the
// units, the polkit rule for exactly the app's unit, the units enabled; and undone again.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/tmp.js';
import { repoPath } from '../helpers/paths.js';

const SCRIPTS = repoPath('scripts');
const SYSTEMD = repoPath('systemd');

function fakeBuild(t: Tap.Test): string {
  const from = tempDir(t, 'upshift-build-');
  mkdirSync(join(from, 'dist', 'src', 'cli'), { recursive: true });
  writeFileSync(join(from, 'dist', 'src', 'cli', 'main.js'), "console.log('upshift ' + process.argv.slice(2).join(' '));\n");
  writeFileSync(join(from, 'package.json'), '{"name":"upshift","type":"module"}\n');
  return from;
}

const sh = (script: string, args: string[]) => spawnSync('sh', [join(SCRIPTS, script), ...args], { encoding: 'utf8' });
const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8);

t.test('install.sh sets up user, directories, program, units, polkit rule and enables them', async (t) => {
  const root = tempDir(t, 'upshift-root-');
  const r = sh('install.sh', ['--root', root, '--from', fakeBuild(t), '--app-unit', 'myapp.service', '--authority', '--node', process.execPath]);
  t.equal(r.status, 0, r.stderr);
  const at = (p: string) => join(root, p);
  const passwd = readFileSync(at('etc/passwd'), 'utf8');
  const uid = Number(/^upshift:x:(\d+):(\d+):/m.exec(passwd)?.[1]);
  t.ok(uid > 0, 'a system user upshift');
  t.match(passwd, /^upshift:x:\d+:\d+::\/var\/lib\/upshift:\/usr\/sbin\/nologin$/m, 'no login shell');
  for (const [path, m, owner] of [
    ['etc/upshift', '750', 0], ['etc/upshift/keys', '700', uid], ['var/lib/upshift', '700', uid],
    ['var/lib/upshift-app', '755', uid], ['var/lib/upshift-work', '711', uid],
  ] as const) {
    t.equal(mode(at(path)), m, `/${path} mode ${m}`);
    t.equal(statSync(at(path)).uid, owner, `/${path} owner`);
  }
  // the program is where ExecStart says, and runs
  const unit = readFileSync(at('etc/systemd/system/upshift.service'), 'utf8');
  const exec = /^ExecStart=(\S+)/m.exec(unit)?.[1] as string;
  t.equal(exec, '/usr/local/bin/upshift');
  const wrapper = readFileSync(at(exec), 'utf8');
  t.equal(mode(at(exec)), '755');
  const run = spawnSync('sh', ['-c', wrapper.replace('/usr/local/lib/upshift', at('usr/local/lib/upshift')).split('\n').slice(1).join('\n'), 'x', 'ota', 'check'], { encoding: 'utf8' });
  t.equal(run.stdout.trim(), 'upshift ota check', 'the wrapper runs the installed CLI with its arguments');
  for (const u of ['upshift.service', 'upshift-ota.service', 'upshift-ota.timer']) {
    t.equal(readFileSync(at(`etc/systemd/system/${u}`), 'utf8'), readFileSync(join(SYSTEMD, u), 'utf8'), `${u} installed as shipped`);
  }
  t.ok(existsSync(at('etc/systemd/system/upshift.service.d/authority.conf')), "the authority's drop-in");
  const rule = readFileSync(at('etc/polkit-1/rules.d/50-upshift.rules'), 'utf8');
  t.match(rule, /action\.lookup\("unit"\) == "myapp\.service"/);
  t.match(rule, /action\.lookup\("verb"\) == "restart"/);
  t.notMatch(rule, /@APP_UNIT@/);
  // links as systemctl makes them: absolute inside the root
  t.equal(readlinkSync(at('etc/systemd/system/multi-user.target.wants/upshift.service')), '/etc/systemd/system/upshift.service', 'upshift.service enabled');
  t.equal(readlinkSync(at('etc/systemd/system/timers.target.wants/upshift-ota.timer')), '/etc/systemd/system/upshift-ota.timer', 'upshift-ota.timer enabled');

  const again = sh('install.sh', ['--root', root, '--from', fakeBuild(t), '--app-unit', 'myapp.service', '--node', process.execPath]);
  t.equal(again.status, 0, 'running it again is fine');
  t.equal((readFileSync(at('etc/passwd'), 'utf8').match(/^upshift:/gm) ?? []).length, 1, 'one user');

  writeFileSync(at('etc/upshift/upshift.yaml'), 'fleet: x\n');
  const un = sh('uninstall.sh', ['--root', root]);
  t.equal(un.status, 0, un.stderr);
  for (const gone of ['etc/systemd/system/upshift.service', 'etc/systemd/system/upshift-ota.timer', 'etc/systemd/system/upshift.service.d',
    'etc/polkit-1/rules.d/50-upshift.rules', 'usr/local/bin/upshift', 'usr/local/lib/upshift', 'etc/systemd/system/timers.target.wants/upshift-ota.timer']) {
    t.notOk(lstatSync(at(gone), { throwIfNoEntry: false }), `/${gone} removed`);
  }
  t.ok(existsSync(at('etc/upshift/upshift.yaml')) && existsSync(at('var/lib/upshift')), 'config and state kept');
  const purge = sh('uninstall.sh', ['--root', root, '--purge']);
  t.equal(purge.status, 0, purge.stderr);
  t.notOk(existsSync(at('etc/upshift')) || existsSync(at('var/lib/upshift')), 'purged');
  t.notMatch(readFileSync(at('etc/passwd'), 'utf8'), /^upshift:/m, 'the user is gone');
});

t.test('install.sh refuses an app unit name that is not one', async (t) => {
  const root = tempDir(t, 'upshift-root-');
  for (const bad of ['myapp', 'x"); return polkit.Result.YES; //.service', '../x.service', 'a b.service']) {
    const r = sh('install.sh', ['--root', root, '--from', fakeBuild(t), '--app-unit', bad, '--node', process.execPath]);
    t.equal(r.status, 2, `${JSON.stringify(bad)} refused`);
  }
  t.notOk(existsSync(join(root, 'etc', 'passwd')), 'nothing was installed');
});
