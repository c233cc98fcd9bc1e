// The shipped unit files pass systemd's own checks. systemd is not PID 1 here, but
// `systemd-analyze` verifies unit files offline (.ci/run installs it when missing).
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';

const UNIT = repoPath('systemd', 'upshift.service');

t.test('upshift.service verifies and keeps its exposure at or below 6.5', async (t) => {
  const dir = tempDir(t);
  // verify checks that ExecStart exists; point it at this machine's node
  const unit = join(dir, 'upshift.service');
  writeFileSync(unit, readFileSync(UNIT, 'utf8').replace('/usr/local/bin/upshift', process.execPath));
  const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  t.equal(verify.status, 0, verify.stderr);
  const security = execFileSync('systemd-analyze', ['security', '--offline=true', unit], { encoding: 'utf8' });
  const level = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(security)?.[1]);
  t.ok(level <= 6.5, `exposure ${level}`);
  t.match(readFileSync(UNIT, 'utf8'), /TimeoutStopSec=30s/, 'the stop budget the daemon honours');
});
