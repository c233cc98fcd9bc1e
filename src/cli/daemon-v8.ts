// V8 settings `upshift daemon` applies to itself (issue 9, footprint). Set from inside the
// process, so they hold however the daemon is started: the `upshift` bin, the systemd unit,
// the loopback fleet. An operator's own flag for the same setting wins.
import { setFlagsFromString } from 'node:v8';

export interface V8Context {
  /** process.execArgv and NODE_OPTIONS, where an operator's own flags show. */
  execArgv: readonly string[];
  nodeOptions: string;
}

/**
 * The flags a daemon starts with. The optimizing compiler (TurboFan) is off: an idle node
 * runs timers, small JSON messages and OpenSSL calls, which interpreted and baseline code
 * run at the same CPU (measured: 0.53–0.63% against 0.54–0.64% of a core), while TurboFan's
 * code, its compile zones (kept by its threads' malloc arenas) and the compiler's own
 * machine code paged in cost ~12 MB of an ~80 MB daemon, most of it while modules load.
 */
export function daemonV8Flags(ctx: V8Context): string[] {
  const given = [...ctx.execArgv, ctx.nodeOptions].some((a) => /--(no-)?(turbofan|opt)\b/.test(a));
  return given ? [] : ['--no-turbofan'];
}

/** The flags once the role is known: the authority turns TurboFan back on (its heartbeat ingest is CPU-bound). */
export function roleV8Flags(started: readonly string[], authority: boolean): string[] {
  return authority && started.includes('--no-turbofan') ? ['--turbofan'] : [];
}

let started: string[] = [];

/** At the start of `upshift daemon`, before its modules load (they are where TurboFan would run most). */
export function startDaemonV8(): string[] {
  started = daemonV8Flags({ execArgv: process.execArgv, nodeOptions: process.env.NODE_OPTIONS ?? '' });
  for (const f of started) setFlagsFromString(f);
  return started;
}

/** Once the config is read; returns the flags in force that differ from V8's defaults. */
export function settleDaemonV8(authority: boolean): string[] {
  const back = roleV8Flags(started, authority);
  for (const f of back) setFlagsFromString(f);
  return back.length > 0 ? [] : started;
}
