// The restart command of a harness node, written next to its config as `app-ctl.cjs`:
// `restart` stops the app recorded in app.pid and starts `current/app.js` detached on the
// node's app port; `stop` only stops it. A real node would use systemctl; this is the
// same contract (the command returns once the new process is started).
export const APP_CTL = `'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const [cmd, appDir, port] = process.argv.slice(2);
const pidFile = path.join(appDir, '..', 'app.pid');

function alive(pid) {
  try {
    // a zombie (nobody reaps orphans in some sandboxes) has exited already
    return !/^\\d+ \\(.*\\) Z/.test(fs.readFileSync('/proc/' + pid + '/stat', 'utf8'));
  } catch {
    return false;
  }
}

function stop() {
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

if (cmd === 'stop' || cmd === 'restart') stop();
if (cmd === 'restart') {
  const out = fs.openSync(path.join(appDir, '..', 'app.log'), 'a');
  const child = spawn(process.execPath, ['app.js'], { cwd: path.join(appDir, 'current'), detached: true, stdio: ['ignore', out, out], env: { ...process.env, PORT: port } });
  fs.writeFileSync(pidFile, String(child.pid));
  child.unref();
}
`;
