// Preloaded into every tap test process (.taprc `node-arg: --import=./test/helpers/reaper.mjs`):
// whatever a test starts dies with the test process, even when tap SIGKILLs it on a timeout.
//
// - The test process gets a scope mark in its environment (TEST_REAPER_SCOPE, the
//   name is PROCESS_SCOPE_VAR in scripts/demo/procs.ts). Every process it starts inherits
//   it: daemons, CLI runs, sample apps started by a daemon's restart command in a session
//   of their own, git. Stage commands get it through the sandbox's env list (localSandbox).
// - A watchdog (a shell, in a session of its own) holds the read end of a pipe whose only
//   writer is the test process. EOF on it means the test process is gone, however it died.
//   The watchdog then finds every process carrying the mark and, if there are any, a sweep
//   stops them and their descendants (SIGSTOP, so nothing forks or reacts while the tree is
//   walked) and then SIGKILLs them all.
// - The test process itself exits when tap (its parent) disappears.
// - With coverage off, the test file runs in a child without tap's processinfo hook
//   (relay.mjs).
// Plain JavaScript, not TypeScript, so that loading it costs no compiler in any process.
// A process that already carries a mark (a fixture started by a test) belongs to its
// parent's scope and starts no watchdog of its own.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
// first: with coverage off, a process tap started relays from here on (relay.mjs)
import { withoutProcessinfo } from './relay.mjs';

const SCOPE_VAR = 'TEST_REAPER_SCOPE';

// $1 scope, $2 node, $3 the sweep. `read` returns non-zero at EOF, when the test process is
// gone; grep finds any process still carrying the mark (-z: environ is NUL-separated).
const WATCHDOG = `
trap '' INT HUP TERM
while read -r _; do :; done
grep -qszx "${SCOPE_VAR}=$1" /proc/[0-9]*/environ || exit 0
exec "$2" -e "$3" "$1"
`;

// Runs as `node -e`; argv[1] is the scope.
const SWEEP = `
const fs = require('node:fs');
const mark = ${JSON.stringify(SCOPE_VAR)} + '=' + process.argv[1];
function table() {
  const rows = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = fs.readFileSync('/proc/' + name + '/stat', 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || state === 'X') continue;
      let marked = false;
      try { marked = fs.readFileSync('/proc/' + name + '/environ', 'latin1').split('\\0').includes(mark); } catch {}
      rows.set(Number(name), { ppid: Number(ppid), marked });
    } catch {}
  }
  return rows;
}
const doomed = new Set();
for (let round = 0; round < 100; round++) {
  let grew = false;
  for (let changed = true, rows = table(); changed; ) {
    changed = false;
    for (const [pid, row] of rows) {
      if (pid <= 1 || doomed.has(pid) || !(row.marked || doomed.has(row.ppid))) continue;
      doomed.add(pid);
      changed = grew = true;
      try { process.kill(pid, 'SIGSTOP'); } catch {}
    }
  }
  if (!grew) break;
}
for (const pid of doomed) try { process.kill(pid, 'SIGKILL'); } catch {}
`;

// With coverage off (.taprc), the processes a test starts need none of tap's per-process
// instrumentation, which costs each of them (every CLI run, every daemon) about 0.3 s of CPU.
// tap's processinfo adds it to every spawn through process-on-spawn's hooks (a global
// singleton); a hook of ours, after it, takes it out again (and the early relay's import).
const spawnHooks = globalThis[Symbol.for('process-on-spawn@*:singletonId')];
if (process.env._TAPJS_PROCESSINFO_COVERAGE_ === '0') {
  if (Array.isArray(spawnHooks?.listeners)) spawnHooks.listeners.push((opts) => (opts.env = withoutProcessinfo(opts.env)));
  if (process.env.NODE_OPTIONS) process.env.NODE_OPTIONS = withoutProcessinfo(process.env).NODE_OPTIONS;
}

if (!process.env[SCOPE_VAR] && process.platform === 'linux') {
  const scope = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const dog = spawn('/bin/sh', ['-c', WATCHDOG, 'reaper', scope, process.execPath, SWEEP], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    // unmarked, and no tap instrumentation in the sweep
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  dog.on('error', () => {});
  dog.stdin.on('error', () => {});
  dog.unref();
  dog.stdin.unref();
  // the pipe must live as long as this process: keep the handle reachable
  globalThis[Symbol.for('upshift.test.reaper')] = dog;
  process.env[SCOPE_VAR] = scope;
  // An orphaned test process (tap was killed) has no one to report to: end it, which
  // closes the pipe and sets the watchdog off.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL');
  }, 1000).unref();
}
