// Blue-green slots (README "Blue-green"): which slot serves (blue on app.blue_green.ports[0],
// green on ports[1]) and which one is draining, kept in <app.dir>/slots.json beside
// `current`. The daemon's proxy follows this file, so a flip is one atomic rename: every
// new connection after it goes to the new slot, and a restarted daemon serves the same one.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { BlueGreenConfig } from '../../core/config.js';
import { UpshiftError } from '../../core/errors.js';
import { fsyncDir } from './switch.js';

export const SLOTS_FILE = 'slots.json';
export type SlotName = 'blue' | 'green';

/** A slot and the release that runs in it, on the port it was started with. */
export interface SlotRef {
  slot: SlotName;
  port: number;
  release: string;
}

export interface SlotState {
  active: SlotRef;
  /** The slot that served before the last flip, stopped once `until` (ms) has passed. */
  retiring: (SlotRef & { until: number }) | null;
}

/** The slot state, or null before the first blue-green release. A file that does not parse fails closed. */
export function readSlots(appDir: string): SlotState | null {
  const file = join(appDir, SLOTS_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const s = JSON.parse(text) as SlotState;
    if (!isRef(s.active) || (s.retiring !== null && !(isRef(s.retiring) && Number.isFinite(s.retiring.until)))) throw new Error('unexpected shape');
    return s;
  } catch (err) {
    throw new UpshiftError('E_WORKTREE', `${file} is not a slot state upshift wrote (${(err as Error).message}); fix or remove it`, { cause: err });
  }
}

function isRef(r: unknown): r is SlotRef {
  const o = r as SlotRef | null;
  return o !== null && typeof o === 'object' && (o.slot === 'blue' || o.slot === 'green')
    && Number.isInteger(o.port) && typeof o.release === 'string' && /^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(o.release) && !o.release.includes('..');
}

/** Replace the slot state atomically (write, fsync, rename, fsync the dir): the flip itself. */
export function writeSlots(appDir: string, state: SlotState): void {
  const file = join(appDir, SLOTS_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, `${JSON.stringify(state, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDir(appDir);
}

/** The slot a new release starts in: the one not serving (blue before the first). */
export function idleSlot(bg: BlueGreenConfig, state: SlotState | null): Omit<SlotRef, 'release'> {
  return state?.active.slot === 'blue' ? { slot: 'green', port: bg.ports[1] } : { slot: 'blue', port: bg.ports[0] };
}

/** What the restart and stop commands learn about their slot (the port contract). */
export function slotEnv(s: Pick<SlotRef, 'slot' | 'port'>): Record<string, string> {
  return { UPSHIFT_PORT: String(s.port), UPSHIFT_SLOT: s.slot };
}

/** The health check's path and query on a slot's own port (the proxy reaches slots on 127.0.0.1). */
export function slotHealthUrl(healthUrl: string, port: number): string {
  const u = new URL(healthUrl);
  return `${u.protocol}//127.0.0.1:${port}${u.pathname}${u.search}`;
}
