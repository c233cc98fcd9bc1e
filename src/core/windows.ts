// Maintenance windows (issue 12): a node may switch releases only inside one, unless the
// release is marked urgent. Written like `Sat 02:00-04:00 UTC`, `Mon,Wed 22:00-01:00 UTC`
// (past midnight: into the next day) or `daily 03:00-03:30 UTC`. Only UTC: a window in a
// local zone would move under daylight saving, and nodes disagree on zones. Pure.
import { UpshiftError } from './errors.js';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const WINDOW = /^\s*([A-Za-z]+(?:\s*,\s*[A-Za-z]+)*)\s+(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s+UTC\s*$/;
const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;

export interface MaintenanceWindow {
  text: string;
  /** Days of the week it opens on (0 = Sunday). */
  days: number[];
  /** Minutes after midnight UTC it opens, and how long it lasts. */
  start: number;
  length: number;
}

export function parseWindow(text: string): MaintenanceWindow {
  const bad = (why: string) => new UpshiftError('E_WINDOW', `maintenance window ${JSON.stringify(text)} ${why}; expected like "Sat 02:00-04:00 UTC"`, { details: { window: text } });
  const m = WINDOW.exec(text);
  if (!m) throw bad('does not parse');
  const names = (m[1] as string).split(',').map((d) => d.trim().toLowerCase());
  const days = names.includes('daily') ? [0, 1, 2, 3, 4, 5, 6] : names.map((d) => DAYS.indexOf(d.slice(0, 3) as (typeof DAYS)[number]));
  if (days.some((d) => d < 0) || names.some((d) => d !== 'daily' && d.length !== 3)) throw bad('names an unknown day (Mon … Sun, or daily)');
  const [h1, m1, h2, m2] = [m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number];
  if (h1 > 23 || h2 > 24 || m1 > 59 || m2 > 59 || (h2 === 24 && m2 !== 0)) throw bad('has a time that does not exist');
  const start = h1 * 60 + m1;
  const end = h2 * 60 + m2;
  if (start === end) throw bad('is empty');
  return { text: text.trim(), days: [...new Set(days)].sort(), start, length: end > start ? end - start : end + 1440 - start };
}

/** Every opening of `w` as [from, to) in ms, for the weeks around `now`. */
function spans(w: MaintenanceWindow, now: number): Array<[number, number]> {
  // 1970-01-01 was a Thursday (day 4): align to the Sunday before it
  const weekStart = Math.floor((now + 4 * DAY_MS) / WEEK_MS) * WEEK_MS - 4 * DAY_MS;
  const out: Array<[number, number]> = [];
  for (const week of [weekStart - WEEK_MS, weekStart, weekStart + WEEK_MS]) {
    for (const d of w.days) {
      const from = week + d * DAY_MS + w.start * 60_000;
      out.push([from, from + w.length * 60_000]);
    }
  }
  return out;
}

/** Whether `now` lies in any window; no windows means always. */
export function inWindow(windows: readonly MaintenanceWindow[], now: number): boolean {
  return windows.length === 0 || windows.some((w) => spans(w, now).some(([a, b]) => now >= a && now < b));
}

/** When the next window opens after `now` (now itself when inside one). */
export function nextOpening(windows: readonly MaintenanceWindow[], now: number): number {
  if (inWindow(windows, now)) return now;
  return Math.min(...windows.flatMap((w) => spans(w, now).map(([a]) => a).filter((a) => a > now)));
}
