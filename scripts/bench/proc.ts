// What a process costs, read from /proc (Linux), and the bare-node baselines every footprint
// figure is divided by: this machine is shared, so only ratios measured in the same run compare.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/** Wall time of a command, in ms, median of `runs` after one warm-up. */
export function startTimes(argv: readonly string[], runs: number, env: NodeJS.ProcessEnv = process.env): Timing {
  const [cmd, ...args] = argv as [string, ...string[]];
  const once = () => {
    const t = performance.now();
    execFileSync(cmd, args, { stdio: 'ignore', env });
    return performance.now() - t;
  };
  once();
  return summarize(Array.from({ length: runs }, once));
}

/** CPU ms of one `node -e 0`: the unit idle CPU is expressed in (start-ups per minute). */
export function bareStartCpuMs(runs: number): number {
  const samples = Array.from({ length: runs }, () => {
    const out = execFileSync(process.execPath, ['-e', 'const u = process.cpuUsage(); process.stdout.write(String((u.user + u.system) / 1e3))']);
    return Number(out.toString());
  });
  return summarize(samples).median;
}
