import t from 'tap';
import { formatDuration, parseDuration } from '../../src/core/duration.js';

const EXPECTED_FORMAT = /expected a number with a unit \(ms, s, m, h, d\), like 30s or 5m/;

const valid: Array<[string, number]> = [
  ['500ms', 500],
  ['30s', 30_000],
  ['5m', 300_000],
  ['1h', 3_600_000],
  ['2d', 172_800_000],
  ['1h30m', 5_400_000],
  ['1m30s250ms', 90_250],
  ['0s', 0],
  ['  45s  ', 45_000],
];

t.test('durations with a unit parse to milliseconds, combined parts adding up', async (t) => {
  for (const [text, ms] of valid) t.equal(parseDuration(text), ms, JSON.stringify(text));
});

const invalid = ['5 minutes', '-1s', '1.5h', '30', 's', '30S', '1h 30m', '5m!', 'PT5M'];

t.test('durations without a known unit, with a sign, spaces or decimals are refused with the expected format', async (t) => {
  for (const text of invalid) {
    t.throws(() => parseDuration(text), { code: 'E_USAGE', message: EXPECTED_FORMAT }, JSON.stringify(text));
  }
});

t.test('an empty or blank duration is refused and still names the expected format', async (t) => {
  for (const text of ['', '   ']) {
    t.throws(() => parseDuration(text), { code: 'E_USAGE', message: /^empty duration/ }, JSON.stringify(text));
    t.throws(() => parseDuration(text), { message: EXPECTED_FORMAT });
  }
});

t.test('a duration too large to count exactly in milliseconds is refused', async (t) => {
  t.throws(() => parseDuration('999999999999999d'), { code: 'E_USAGE', message: /too large/ });
});

t.test('the parser starts fresh on every call (its sticky regex keeps no position between calls)', async (t) => {
  t.throws(() => parseDuration('1h 30m'));
  t.equal(parseDuration('5m'), 300_000);
  t.equal(parseDuration('1h30m'), 5_400_000);
});

const formatted: Array<[number, string]> = [
  [0, '0ms'],
  [500, '500ms'],
  [1_500, '1.5s'],
  [9_940, '9.9s'],
  [30_000, '30s'],
  [59_400, '59s'],
  [59_600, '1m'],
  [90_000, '1m30s'],
  [119_600, '2m'],
  [300_000, '5m'],
  [3_600_000, '1h'],
  [3_599_700, '1h'],
  [5_400_000, '1h30m'],
  [5_430_000, '1h30m'],
];

t.test('formatted durations are short and never show 60 of a smaller unit', async (t) => {
  for (const [ms, text] of formatted) t.equal(formatDuration(ms), text, `${ms} ms`);
});

t.test('whole durations survive a format and parse round trip', async (t) => {
  for (const text of ['30s', '5m', '1h', '1h30m', '2m15s']) t.equal(formatDuration(parseDuration(text)), text);
});
