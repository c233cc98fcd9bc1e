// A test process in a scope of its own, started by reaper.test.ts: it starts an authority
// daemon whose build command holds (a stage command, as the build user, in a session of
// its own) and an app the way a node's restart command does (app-ctl: detached, in a
// session of its own), prints their pids as one JSON line, and waits to be SIGKILLed.
// argv: config path, hold marker, app-ctl path, app dir.
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { spawnGroup } from '../../scripts/demo/procs.js';
import { CLI_PATH } from '../helpers/paths.js';

const [configPath, marker, appCtl, appDir] = process.argv.slice(2) as [string, string, string, string];
const daemon = spawnGroup(process.execPath, [CLI_PATH, '--config', configPath, 'daemon'], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { UPSHIFT_LOG_LEVEL: 'warn', SAMPLE_HOLD: 'build', SAMPLE_HOLD_MARKER: marker },
});
daemon.once('exit', (code) => {
  process.stderr.write(`the daemon exited (${code})\n`);
  process.exit(1);
});
execFileSync('sh', [appCtl, 'restart', appDir, '0'], { stdio: 'ignore' });
const app = Number(readFileSync(`${appDir}/../app.pid`, 'utf8'));
// the build command is running once it wrote its pid (the outer test bounds the wait)
while (!existsSync(marker) || readFileSync(marker, 'utf8') === '') await new Promise((r) => setTimeout(r, 50));
const stage = Number(readFileSync(marker, 'utf8'));
process.stdout.write(`${JSON.stringify({ daemon: daemon.pid, app, stage })}\n`);
setInterval(() => undefined, 1 << 30);
