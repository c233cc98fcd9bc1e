// The shipped unit files pass systemd's own checks. systemd is not PID 1 here, but
// `systemd-analyze` verifies unit files offline (.ci/run installs it when missing).
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';

const SYSTEMD = repoPath('systemd');
const UNITS = ['upshift.service', 'upshift-ota.service', 'upshift-ota.timer'];

/** The units in a temp dir; verify checks that ExecStart exists, so it points at this machine's node. */
function copyUnits(dir: string): void {
  for (const u of UNITS) writeFileSync(join(dir, u), readFileSync(join(SYSTEMD, u), 'utf8').replace('/usr/local/bin/upshift', process.execPath));
}

function exposure(dir: string, unit: string): number {
  const out = execFileSync('systemd-analyze', ['security', '--offline=true', join(dir, unit)], { encoding: 'utf8', cwd: dir });
  return Number(/Overall exposure level for \S+: ([\d.]+)/.exec(out)?.[1]);
}

t.test('the three units verify clean', async (t) => {
  const dir = tempDir(t);
  copyUnits(dir);
  const verify = spawnSync('systemd-analyze', ['verify', ...UNITS.map((u) => join(dir, u))], { encoding: 'utf8', cwd: dir });
  t.equal(verify.status, 0, verify.stderr);
  t.equal(verify.stderr.trim(), '', 'no warnings either');
});

t.test('upshift.service and upshift-ota.service are rated at an exposure of 3.0 or lower', async (t) => {
  const dir = tempDir(t);
  copyUnits(dir);
  for (const unit of ['upshift.service', 'upshift-ota.service']) {
    const level = exposure(dir, unit);
    t.ok(level <= 3.0, `${unit}: exposure ${level}`);
  }
  t.match(readFileSync(join(SYSTEMD, 'upshift.service'), 'utf8'), /TimeoutStopSec=30s/, 'the stop budget the daemon honours');
});

t.test("the authority's drop-in (build sandbox capabilities) stays at 3.0 or lower too", async (t) => {
  const dir = tempDir(t);
  copyUnits(dir);
  mkdirSync(join(dir, 'upshift.service.d'));
  copyFileSync(join(SYSTEMD, 'upshift-authority.conf'), join(dir, 'upshift.service.d', 'authority.conf'));
  const plain = exposure(dir, 'upshift-ota.service');
  const level = exposure(dir, 'upshift.service');
  t.ok(level > plain, `the drop-in is read (${level} > ${plain})`);
  t.ok(level <= 3.0, `upshift.service with the authority drop-in: exposure ${level}`);
});

t.test('the timer runs the OTA check daily, catching up after downtime, spread over the fleet', async (t) => {
  const timer = readFileSync(join(SYSTEMD, 'upshift-ota.timer'), 'utf8');
  t.match(timer, /^OnCalendar=daily$/m);
  t.match(timer, /^Persistent=true$/m);
  t.match(timer, /^RandomizedDelaySec=\S+$/m);
  const service = readFileSync(join(SYSTEMD, 'upshift-ota.service'), 'utf8');
  t.match(service, /^Type=oneshot$/m);
  t.match(service, /^ExecStart=\/usr\/local\/bin\/upshift ota check --apply$/m);
});
