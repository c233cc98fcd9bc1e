// What a process costs, read from /proc (Linux), and the bare-node baselines every footprint
// figure is divided by: this machine is shared, so only ratios measured in the same run compare.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { round1, summarize, type Timing } from './util.js';

const TICKS_PER_SECOND = 100; // USER_HZ; 100 on every Linux this runs on

/** CPU seconds a process used so far, its reaped children (git, hooks) included. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after the command name, which may hold spaces: state is field 3, utime field 14
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]));
  return ((utime ?? 0) + (stime ?? 0) + (cutime ?? 0) + (cstime ?? 0)) / TICKS_PER_SECOND;
}

/** Resident memory in MB (VmRSS). */
export function rssOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return round1(Number(kb) / 1024);
}

export interface IdleReading {
  /** Percent of one core over the window. */
  cpu_pct: number;
  rss_mb: number;
}

/** CPU% of each pid over `seconds` (read at both ends), and its RSS at the end. */
export async function idleReadings(pids: readonly number[], seconds: number): Promise<IdleReading[]> {
  const start = pids.map(cpuSecondsOf);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const wall = (performance.now() - t0) / 1000;
  return pids.map((pid, i) => ({
    cpu_pct: Math.round(((cpuSecondsOf(pid) - (start[i] as number)) / wall) * 10_000) / 100,
    rss_mb: rssOf(pid),
  }));
}

/** A bare idle node (one timer a second) to read beside the daemons: the floor. */
export function bareIdleNode(): { pid: number; stop: () => void } {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  if (!child.pid) throw new Error('could not start a bare node');
  return { pid: child.pid, stop: () => void child.kill('SIGKILL') };
}

/**
 * Wall time of a command in ms, and its CPU time (user + sys, from GNU time), medians of
 * `runs` after one warm-up. On a shared machine the CPU time is the steadier of the two.
 */
export function startTimes(argv: readonly string[], runs: number, env: NodeJS.ProcessEnv = process.env): { wall: Timing; cpu: Timing | null } {
  const timed = existsSync(GNU_TIME);
  const once = (): [number, number] => {
    const t = performance.now();
    if (!timed) {
      execFileSync(argv[0] as string, argv.slice(1), { stdio: 'ignore', env });
      return [performance.now() - t, NaN];
    }
    const r = spawnSync(GNU_TIME, ['-f', '%U %S', ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    const wall = performance.now() - t;
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
    const [user = NaN, sys = NaN] = (r.stderr.trim().split('\n').at(-1) ?? '').split(' ').map(Number);
    return [wall, (user + sys) * 1000];
  };
  once();
  const samples = Array.from({ length: runs }, once);
  return { wall: summarize(samples.map((s) => s[0])), cpu: timed ? summarize(samples.map((s) => s[1])) : null };
}

const GNU_TIME = '/usr/bin/time';

/** CPU ms of one `node -e 0`: the unit idle CPU is expressed in (start-ups per minute). */
export function bareStartCpuMs(runs: number): number {
  const samples = Array.from({ length: runs }, () => {
    const out = execFileSync(process.execPath, ['-e', 'const u = process.cpuUsage(); process.stdout.write(String((u.user + u.system) / 1e3))']);
    return Number(out.toString());
  });
  return summarize(samples).median;
}
