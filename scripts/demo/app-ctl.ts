// The restart command of a harness node, written next to its config as `app-ctl.cjs`:
// `restart` stops the app recorded in app.pid and starts `current/app.js` detached on the
// node's app port; `stop` only stops it. A real node would use systemctl; this is the
// same contract (the command returns once the new process is started). Under blue-green
// (UPSHIFT_SLOT set) it works on that slot alone: slot-<slot>.pid, app.js from
// UPSHIFT_RELEASE_DIR on UPSHIFT_PORT; `stop` without a slot stops every app it started.
export const APP_CTL = `'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const [cmd, appDir, port] = process.argv.slice(2);
const slot = process.env.UPSHIFT_SLOT;
const pidName = slot ? 'slot-' + slot + '.pid' : 'app.pid';

function alive(pid) {
  try {
    // a zombie (nobody reaps orphans in some sandboxes) has exited already
    return !/^\\d+ \\(.*\\) Z/.test(fs.readFileSync('/proc/' + pid + '/stat', 'utf8'));
  } catch {
    return false;
  }
}

function stop(pidFile) {
  let pid;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8'));
  } catch {
    return;
  }
  try {
    process.kill(pid, 'SIGTERM');
  } catch {}
  const until = Date.now() + 3000;
  while (alive(pid) && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  if (alive(pid)) try { process.kill(pid, 'SIGKILL'); } catch {}
  fs.rmSync(pidFile, { force: true });
}

const pidFile = path.join(appDir, '..', pidName);
if (cmd === 'restart' || (cmd === 'stop' && slot)) stop(pidFile);
if (cmd === 'stop' && !slot) for (const name of ['app.pid', 'slot-blue.pid', 'slot-green.pid']) stop(path.join(appDir, '..', name));
if (cmd === 'restart') {
  const out = fs.openSync(path.join(appDir, '..', slot ? 'app-' + slot + '.log' : 'app.log'), 'a');
  const cwd = slot ? process.env.UPSHIFT_RELEASE_DIR : path.join(appDir, 'current');
  const env = { ...process.env, PORT: slot ? process.env.UPSHIFT_PORT : port };
  const child = spawn(process.execPath, ['app.js'], { cwd, detached: true, stdio: ['ignore', out, out], env });
  fs.writeFileSync(pidFile, String(child.pid));
  child.unref();
}
`;
