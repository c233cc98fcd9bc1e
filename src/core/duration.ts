// Durations in config and on the command line: `500ms`, `30s`, `5m`, `1h`, `2d`, or combined (`1h30m`).
import { UpshiftError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+)(ms|s|m|h|d)/y;

export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (trimmed === '') throw new UpshiftError('E_USAGE', 'empty duration: expected a number with a unit (ms, s, m, h, d), like 30s or 5m');
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < trimmed.length) {
    const at = PART.lastIndex;
    const m = PART.exec(trimmed);
    if (!m || m.index !== at) {
      throw new UpshiftError('E_USAGE', `invalid duration "${text}": expected a number with a unit (ms, s, m, h, d), like 30s or 5m`);
    }
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  if (!Number.isSafeInteger(total)) throw new UpshiftError('E_USAGE', `duration "${text}" is too large`);
  return total;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  // round once, to whole seconds, so 119.6s reads 2m and not 1m60s
  const secs = Math.round(ms / 1000);
  if (secs < 60) return `${secs}s`;
  const m = Math.floor(secs / 60);
  const s = secs % 60;
  if (m < 60) return s ? `${m}m${s}s` : `${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
}

/** Whole days and more read as days (90d, 3652.4d); shorter spans as formatDuration does. */
export function formatSpan(ms: number): string {
  return ms >= 86_400_000 ? `${Math.round((ms / 86_400_000) * 10) / 10}d` : formatDuration(ms);
}
