import t from 'tap';
import { escapeControl, oneLine } from '../../../src/cli/render.js';

t.test('control characters are spelled out as \\xHH: C0 but newline, DEL and C1; printable text is kept', async (t) => {
  const cases: Array<[string, string]> = [
    ['\u001b[31mred\u001b[0m', '\\x1b[31mred\\x1b[0m'],
    ['\u001b]0;title\u0007', '\\x1b]0;title\\x07'],
    ['tab\there\rcr\u0000nul', 'tab\\x09here\\x0dcr\\x00nul'],
    ['del\u007f c1\u009b31m \u0085', 'del\\x7f c1\\x9b31m \\x85'],
    ['two\nlines', 'two\nlines'],
    ['café ✓ 日本 \u00a0', 'café ✓ 日本 \u00a0'],
  ];
  for (const [input, shown] of cases) t.equal(escapeControl(input), shown, JSON.stringify(input));
});

t.test('oneLine spells out newlines too, for a line built from strings that came from elsewhere', async (t) => {
  t.equal(oneLine('web-1\nweb-2 ok\u001b[2J'), 'web-1\\x0aweb-2 ok\\x1b[2J');
});
