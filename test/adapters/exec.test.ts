import t from 'tap';
import { realpathSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createExec, groupAlive, killGroup, processAlive } from '../../src/adapters/exec.js';
import { isUpshiftError } from '../../src/core/errors.js';
import { commandEvidence } from '../../src/stages/context.js';
import type { ExecRequest } from '../../src/core/ports.js';
import { tempDir } from '../helpers/tmp.js';

const exec = createExec();
const req = (t: Parameters<typeof tempDir>[0], command: string, extra: Partial<ExecRequest> = {}): ExecRequest => ({
  command,
  cwd: tempDir(t),
  timeoutMs: 20_000,
  ...extra,
});

/** Killed processes vanish asynchronously; wait (bounded) until the pid is gone. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && processAlive(pid); i++) await sleep(50);
  return !processAlive(pid);
}

/** Kill any process group a test left behind, so a failing test cannot leak sleeps. */
function reapAfter(t: Parameters<typeof tempDir>[0], pids: number[]): void {
  t.teardown(() => {
    for (const pid of pids) if (pid > 1) killGroup(pid, 'SIGKILL');
  });
}

t.test('a command that succeeds reports exit code 0 and its stdout', async (t) => {
  const r = await exec.run(req(t, "printf 'one\\ntwo\\n'"));
  t.equal(r.exitCode, 0);
  t.equal(r.signal, null);
  t.equal(r.stdout, 'one\ntwo\n');
  t.equal(r.stdoutTruncated, false);
  t.notOk(r.timedOut);
  t.notOk(r.cancelled);
  t.equal(r.command, "printf 'one\\ntwo\\n'");
});

t.test('a failing command is a result with its exit code, not an exception', async (t) => {
  const r = await exec.run(req(t, 'echo broken >&2; exit 3'));
  t.equal(r.exitCode, 3);
  t.equal(r.stdout, '');
  t.equal(r.tail, 'broken\n');
});

t.test('the tail interleaves stdout and stderr in arrival order', async (t) => {
  const r = await exec.run(req(t, 'echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2'));
  t.equal(r.stdout, 'out1\nout2\n');
  t.equal(r.tail, 'out1\nerr1\nout2\n');
});

t.test('a cause on stderr survives a long usage text on stdout (npm ci without a lockfile)', async (t) => {
  // the pause orders the two pipes: the cause arrives first, then the usage text buries it
  const r = await exec.run(req(t, 'echo "npm error: no package-lock.json" >&2; sleep 0.3; seq 1 200; exit 1'));
  t.equal(r.stderrTail, 'npm error: no package-lock.json\n');
  const { evidence } = commandEvidence(r);
  t.notMatch(evidence.tail as string, /package-lock/, 'the mixed tail lost it');
  t.equal(evidence.stderr_tail, 'npm error: no package-lock.json');
  const ok = commandEvidence(await exec.run(req(t, 'echo warn >&2; seq 1 200')));
  t.equal(ok.evidence.stderr_tail, undefined, 'a command that passed keeps the plain tail');
});

t.test('the tail keeps the end of a long output while stdout keeps all of it', async (t) => {
  const r = await exec.run(req(t, 'seq 1 100000', { tailBytes: 100 }));
  t.equal(r.exitCode, 0);
  t.ok(r.tail.length <= 100);
  t.ok(r.tail.endsWith('99999\n100000\n'));
  t.equal(r.stdout.split('\n').length, 100001);
  t.ok(r.stdout.startsWith('1\n2\n3\n'));
});

t.test('the tail starts on a whole UTF-8 character', async (t) => {
  // Five 2-byte characters; a 5-byte tail would start inside one of them.
  const r = await exec.run(req(t, "printf '\\303\\251\\303\\251\\303\\251\\303\\251\\303\\251'", { tailBytes: 5 }));
  t.equal(r.tail, 'éé');
  t.equal(r.stdout, 'ééééé');
});

t.test('stdout beyond the cap is cut on a character boundary and flagged', async (t) => {
  const small = createExec({ maxStdoutBytes: 5 });
  const r = await small.run(req(t, "printf 'abcd\\303\\251xyz'"));
  t.equal(r.stdout, 'abcd');
  t.equal(r.stdoutTruncated, true);
  t.equal(r.tail, 'abcdéxyz');
});

t.test('the environment is merged over the parent environment', async (t) => {
  const r = await exec.run(req(t, 'printf "%s|%s" "$UPSHIFT_TEST_VAR" "$(command -v sh)"', { env: { UPSHIFT_TEST_VAR: 'forty two' } }));
  const [value, sh] = r.stdout.split('|');
  t.equal(value, 'forty two');
  t.match(sh, /\/sh$/, 'PATH from the parent still finds sh');
});

t.test('the command runs in the requested directory', async (t) => {
  const dir = tempDir(t);
  const inDir = await exec.run({ command: 'pwd -P', cwd: dir, timeoutMs: 10_000 });
  t.equal(inDir.stdout.trim(), realpathSync(dir));
});

t.test('onSpawn receives the pid, which is the process group id of the command', async (t) => {
  let spawned = 0;
  const r = await exec.run(req(t, 'echo $$; ps -o pgid= -p $$', { onSpawn: (pid) => { spawned = pid; } }));
  const [shellPid, pgid] = r.stdout.split('\n').map((s) => Number(s.trim()));
  t.ok(spawned > 1);
  t.equal(shellPid, spawned);
  t.equal(pgid, spawned);
});

t.test('a timeout kills the command and the grandchild it started', async (t) => {
  const pids: number[] = [];
  reapAfter(t, pids);
  // The timeout leaves the shell ample time to print the grandchild's pid first.
  const r = await exec.run(req(t, 'sleep 30 & echo $!; wait', { timeoutMs: 1000, onSpawn: (pid) => pids.push(pid) }));
  t.equal(r.timedOut, true);
  t.equal(r.cancelled, false);
  t.equal(r.exitCode, null);
  t.equal(r.signal, 'SIGTERM');
  const grandchild = Number(r.stdout.trim());
  t.ok(grandchild > 1, 'the grandchild printed its pid');
  t.ok(await gone(grandchild), 'the grandchild sleep is gone');
  t.notOk(groupAlive(pids[0]!) && processAlive(grandchild), 'nothing of the group is running');
});

t.test('a grandchild that ignores SIGTERM is killed with SIGKILL after the grace period', async (t) => {
  const pids: number[] = [];
  reapAfter(t, pids);
  const r = await exec.run(req(t, `sh -c 'trap "" TERM; echo $$; exec sleep 30' & wait`, {
    timeoutMs: 1000,
    killGraceMs: 300,
    onSpawn: (pid) => pids.push(pid),
  }));
  t.equal(r.timedOut, true);
  const grandchild = Number(r.stdout.trim());
  t.ok(grandchild > 1);
  t.ok(await gone(grandchild), 'the stubborn grandchild is gone');
});

t.test('aborting the signal cancels a running command', async (t) => {
  const pids: number[] = [];
  reapAfter(t, pids);
  const ac = new AbortController();
  const r = await exec.run(req(t, 'sleep 30 & echo $!; wait', {
    signal: ac.signal,
    onSpawn: (pid) => { pids.push(pid); setTimeout(() => ac.abort(), 1000); },
  }));
  t.equal(r.cancelled, true);
  t.equal(r.timedOut, false);
  t.equal(r.exitCode, null);
  t.ok(await gone(Number(r.stdout.trim())), 'the background sleep is gone');
});

t.test('an already aborted signal starts nothing', async (t) => {
  const ac = new AbortController();
  ac.abort();
  let spawned = false;
  const r = await exec.run(req(t, 'echo never', { signal: ac.signal, onSpawn: () => { spawned = true; } }));
  t.equal(r.cancelled, true);
  t.equal(r.exitCode, null);
  t.equal(r.stdout, '');
  t.equal(spawned, false);
});

t.test('a background process holding stdout does not keep a finished command waiting', async (t) => {
  const pids: number[] = [];
  reapAfter(t, pids);
  const quick = createExec({ stdioWaitMs: 200 });
  const r = await quick.run(req(t, 'sleep 30 & echo started', { onSpawn: (pid) => pids.push(pid) }));
  t.equal(r.exitCode, 0);
  t.equal(r.timedOut, false);
  t.equal(r.stdout, 'started\n');
});

t.test('a directory that does not exist fails to start with E_COMMAND_FAILED', async (t) => {
  const err = await exec.run({ command: 'true', cwd: '/nonexistent/upshift-dir', timeoutMs: 1000 }).catch((e: unknown) => e);
  t.ok(isUpshiftError(err, 'E_COMMAND_FAILED'));
  t.match((err as Error).message, /\/nonexistent\/upshift-dir/);
});

t.test('process helpers', async (t) => {
  t.equal(processAlive(process.pid), true, 'this process is alive');
  t.equal(processAlive(0), false);
  t.equal(processAlive(-5), false);
  t.throws(() => killGroup(1, 'SIGTERM'), { code: 'E_INTERNAL' }, 'never signals every process');
  t.throws(() => killGroup(0, 'SIGTERM'), { code: 'E_INTERNAL' }, 'never signals our own group');
  const r = await exec.run(req(t, 'echo $$'));
  const finished = Number(r.stdout.trim());
  t.equal(killGroup(finished, 'SIGTERM'), false, 'a finished group cannot be signalled');
  t.equal(groupAlive(finished), false);
});

t.test('a killed command resolves even when an escaped descendant keeps its pipes open', async (t) => {
  const pids: number[] = [];
  reapAfter(t, pids);
  const quick = createExec({ stdioWaitMs: 200 });
  // setsid moves the sleep out of the group, so no group signal reaches it.
  const r = await quick.run(req(t, 'setsid sleep 30 & echo $!; wait', {
    timeoutMs: 1000,
    killGraceMs: 100,
    onSpawn: (pid) => pids.push(pid),
  }));
  const escaped = Number(r.stdout.trim());
  pids.push(escaped);
  t.equal(r.timedOut, true);
  t.ok(processAlive(escaped), 'the escaped process is beyond the group kill');
});
