// Runs stage commands (build, test, audit, benchmark) as shell command lines in their own
// process group, so a timeout or a cancel can take down everything the command started,
// not just the shell. Never throws for a failing command: the stage decides what a
// non-zero exit means. Throws only when the process could not be started at all.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { UpshiftError } from '../core/errors.js';
import type { Exec, ExecRequest, ExecResult } from '../core/ports.js';
import { switchUser } from './switch-user.js';

export const MAX_STDOUT_BYTES = 16 * 1024 * 1024;
export const DEFAULT_TAIL_BYTES = 64 * 1024;
/** stderr kept on its own: a tool's cause (npm's error line) is often buried under its usage text on stdout. */
const STDERR_TAIL_BYTES = 16 * 1024;
export const DEFAULT_KILL_GRACE_MS = 2000;
/** How long to wait for stdio to close once the shell is gone (and, if killed, SIGKILL sent). */
export const DEFAULT_STDIO_WAIT_MS = 2000;
const GROUP_POLL_MS = 50;
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ExecOptions {
  maxStdoutBytes?: number;
  stdioWaitMs?: number;
}

export function createExec(opts: ExecOptions = {}): Exec {
  const maxStdout = opts.maxStdoutBytes ?? MAX_STDOUT_BYTES;
  const stdioWaitMs = opts.stdioWaitMs ?? DEFAULT_STDIO_WAIT_MS;
  return { run: (req) => run(req, maxStdout, stdioWaitMs) };
}

async function run(req: ExecRequest, maxStdout: number, stdioWaitMs: number): Promise<ExecResult> {
  const started = performance.now();
  const result = (partial: Partial<ExecResult>): ExecResult => ({
    command: req.command, exitCode: null, signal: null, timedOut: false, cancelled: false,
    durationMs: Math.round(performance.now() - started), stdout: '', stdoutTruncated: false, tail: '', stderrTail: '', ...partial,
  });
  // Starting work that the caller already gave up on would only create something to clean up.
  if (req.signal?.aborted) return result({ cancelled: true });

  // libuv drops supplementary groups (setgroups) before setgid/setuid in the child
  const as = switchUser('/bin/sh', ['-c', req.command], req.uid, req.gid);
  const child = spawn(as.file, as.args, {
    cwd: req.cwd,
    env: req.inheritEnv === false ? { ...req.env } : { ...process.env, ...req.env },
    ...as.ids,
    detached: true, // own process group: pgid = pid, so -pid reaches every descendant
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) {
    // libuv failed synchronously (missing cwd, EAGAIN); the error event follows on the next tick.
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new UpshiftError('E_COMMAND_FAILED', `could not start "${req.command}" in ${req.cwd}: ${err.message}`, { cause: err });
  }
  // After a successful spawn, 'error' only reports a failed kill(); exit and close still follow.
  child.on('error', () => {});
  try {
    req.onSpawn?.(pid);
  } catch (err) {
    killGroup(pid, 'SIGKILL');
    throw err;
  }

  const stdout = new CappedBuffer(maxStdout);
  const tail = new TailRing(req.tailBytes ?? DEFAULT_TAIL_BYTES);
  const errTail = new TailRing(STDERR_TAIL_BYTES);
  const [stdoutPipe, stderrPipe] = [child.stdout!, child.stderr!];
  stdoutPipe.on('data', (chunk: Buffer) => { stdout.push(chunk); tail.push(chunk); });
  stderrPipe.on('data', (chunk: Buffer) => { tail.push(chunk); errTail.push(chunk); });

  return new Promise<ExecResult>((resolve) => {
    let exitCode: number | null = null, exitSignal: string | null = null;
    let exited = false, closed = false, stdioGaveUp = false;
    let terminating = false, sigkillSent = false, polling = false;
    let timedOut = false, cancelled = false, done = false;
    const timers = new Set<NodeJS.Timeout>();
    const later = (ms: number, fn: () => void): void => {
      const t = setTimeout(() => { timers.delete(t); fn(); }, ms);
      timers.add(t);
    };

    // Once the shell has exited there is nothing left to time out or cancel.
    const stop = (why: 'timeout' | 'abort'): void => {
      if (exited || terminating) return;
      if (why === 'timeout') timedOut = true;
      else cancelled = true;
      terminating = true;
      killGroup(pid, 'SIGTERM');
      later(req.killGraceMs ?? DEFAULT_KILL_GRACE_MS, () => {
        killGroup(pid, 'SIGKILL');
        sigkillSent = true;
        waitForStdio();
        maybeFinish();
      });
    };
    // A descendant that left the group (setsid) or survived can hold our pipes forever;
    // after the shell is gone we read what is buffered, then stop listening.
    const waitForStdio = (): void => later(stdioWaitMs, () => { stdioGaveUp = true; maybeFinish(); });
    const maybeFinish = (): void => {
      if (done || !exited || (!closed && !stdioGaveUp)) return;
      // Killed: members that outlived the shell get the rest of the grace period, then SIGKILL.
      if (terminating && !sigkillSent && groupAlive(pid)) {
        if (!polling) later(GROUP_POLL_MS, () => { polling = false; maybeFinish(); });
        polling = true;
        return;
      }
      done = true;
      for (const t of timers) clearTimeout(t);
      req.signal?.removeEventListener('abort', onAbort);
      stdoutPipe.destroy();
      stderrPipe.destroy();
      resolve(result({
        exitCode, signal: exitSignal, timedOut, cancelled,
        stdout: stdout.bytes().toString('utf8'), stdoutTruncated: stdout.truncated, tail: tail.text(), stderrTail: errTail.text(),
      }));
    };
    const onAbort = (): void => stop('abort');
    // setTimeout turns delays beyond 2^31−1 ms (and Infinity) into 1 ms; treat those as "no limit".
    if (req.timeoutMs <= MAX_TIMER_MS) later(req.timeoutMs, () => stop('timeout'));
    req.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('exit', (code, sig) => {
      exited = true;
      exitCode = code;
      exitSignal = sig;
      if (!terminating || sigkillSent) waitForStdio();
      maybeFinish();
    });
    child.on('close', () => { closed = true; maybeFinish(); });
  });
}

/** Full stdout up to a cap; the cut lands on a UTF-8 character boundary. */
class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    const room = this.cap - this.size;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const kept = chunk.subarray(0, room);
    this.chunks.push(kept);
    this.size += kept.length;
  }

  bytes(): Buffer {
    const all = Buffer.concat(this.chunks, this.size);
    return this.truncated ? all.subarray(0, completeUtf8Length(all)) : all;
  }
}

/** The last `limit` bytes of everything pushed, starting on a UTF-8 character boundary. */
class TailRing {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    if (this.limit <= 0) return;
    // Copy the end of an oversized chunk so the ring never pins a large parent buffer.
    const piece = chunk.length > this.limit ? Buffer.from(chunk.subarray(chunk.length - this.limit)) : chunk;
    this.chunks.push(piece);
    this.size += piece.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0]!.length >= this.limit) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks, this.size);
    let start = Math.max(0, all.length - this.limit);
    while (start < all.length && (all[start]! & 0xc0) === 0x80) start++; // skip continuation bytes
    return all.toString('utf8', start);
  }
}

/** Length of `buf` without a trailing, incomplete UTF-8 sequence. */
function completeUtf8Length(buf: Buffer): number {
  for (let i = buf.length - 1; i >= 0 && i >= buf.length - 4; i--) {
    const b = buf[i]!;
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return buf.length - i >= need ? buf.length : i;
  }
  return buf.length;
}

function assertGroupId(pid: number): void {
  // kill(0) and kill(-1) would signal our own group or every process we may signal.
  if (!Number.isSafeInteger(pid) || pid <= 1) throw new UpshiftError('E_INTERNAL', `refusing to signal process group ${pid}`);
}

/** Signal a whole process group; false when it no longer exists (or is not ours to signal). */
export function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  assertGroupId(pid);
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether any member of the process group is still running. Zombies do not count: an
 * orphan is reaped by init, which may take a while (some container inits poll slowly).
 */
export function groupAlive(pid: number): boolean {
  assertGroupId(pid);
  if (!signalZero(-pid)) return false;
  return !HAS_PROC || runningProcesses().some((p) => p.pgid === pid);
}

/** Whether a process is running. A zombie counts as gone: it can do nothing more. */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0 || !signalZero(pid)) return false;
  return !HAS_PROC || readStat(pid)?.running === true;
}

/** Every running process (zombies left out) with its group, from /proc; empty without /proc. */
export function runningProcesses(): Array<{ pid: number; pgid: number }> {
  if (!HAS_PROC) return [];
  const out: Array<{ pid: number; pgid: number }> = [];
  for (const name of readdirSync('/proc')) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue; // not a pid
    const stat = readStat(Number(name));
    if (stat?.running) out.push({ pid: Number(name), pgid: stat.pgid });
  }
  return out;
}

/** Without /proc (not Linux) zombies cannot be told apart; signal 0 is all we have. */
const HAS_PROC = existsSync('/proc/self/stat');

/** Whether a process is running (not a zombie) and its group, from /proc/<pid>/stat. */
function readStat(pid: number): { running: boolean; pgid: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null; // gone
  }
  // "pid (comm) state ppid pgrp ..."; comm may itself contain spaces and ')'.
  const [state = '', , pgid] = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { running: state !== 'Z' && state !== 'X', pgid: Number(pgid) };
}

function signalZero(target: number): boolean {
  try {
    process.kill(target, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}
