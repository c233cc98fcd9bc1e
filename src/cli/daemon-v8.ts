// V8 settings `upshift daemon` applies to itself at start (issue 9, footprint). Set from
// inside the process, so they hold however the daemon is started: the `upshift` bin, the
// systemd unit, the loopback fleet. An operator's own flag for the same setting wins.
import { setFlagsFromString } from 'node:v8';

export interface V8Context {
  /** Whether the config has an `authority:` section. */
  authority: boolean;
  /** process.execArgv and NODE_OPTIONS, where an operator's own flags show. */
  execArgv: readonly string[];
  nodeOptions: string;
}

/**
 * The flags for this daemon. On a node without `authority:` the optimizing compiler
 * (TurboFan) is off: an idle node runs timers, small JSON messages and OpenSSL calls, which
 * interpreted and baseline code run at the same CPU (measured: 0.53% against 0.54% of a
 * core), while TurboFan's code, its compile zones (kept by its threads' malloc arenas) and
 * the compiler's own machine code paged in cost ~12 MB of an ~80 MB daemon. The authority
 * keeps it: its heartbeat ingest at fleet scale is CPU-bound.
 */
export function daemonV8Flags(ctx: V8Context): string[] {
  const given = (re: RegExp) => [...ctx.execArgv, ctx.nodeOptions].some((a) => re.test(a));
  const flags: string[] = [];
  if (!ctx.authority && !given(/--(no-)?(turbofan|opt)\b/)) flags.push('--no-turbofan');
  return flags;
}

/** Apply daemonV8Flags to this process; returns what was set (logged at start). */
export function tuneDaemonV8(authority: boolean): string[] {
  const flags = daemonV8Flags({ authority, execArgv: process.execArgv, nodeOptions: process.env.NODE_OPTIONS ?? '' });
  for (const f of flags) setFlagsFromString(f);
  return flags;
}
