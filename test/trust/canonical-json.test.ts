import t from 'tap';
import { canonicalize, parseStrictJson } from '../../src/core/canonical-json.js';
import { isUpshiftError } from '../../src/core/errors.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const parsing = (s: string | Uint8Array) => (): unknown => parseStrictJson(typeof s === 'string' ? bytes(s) : s);
const refused = { code: 'E_MANIFEST_PARSE' };

t.test('keys are sorted by UTF-16 code units at every level, with no whitespace', async (t) => {
  t.equal(canonicalize({ b: 1, a: [true, null, { d: 'x', c: -0.5 }], A: 'é' }), '{"A":"é","a":[true,null,{"c":-0.5,"d":"x"}],"b":1}');
  // U+1F600 is 0xD83D 0xDE00 in UTF-16, so it sorts before U+E000 by code unit though after it by code point.
  t.equal(canonicalize({ '\u{1F600}': 1, '\uE000': 2 }), '{"\u{1F600}":1,"\uE000":2}');
});

t.test('numbers and strings take their JSON.stringify forms', async (t) => {
  t.equal(canonicalize([1e21 / 1e10, 0.1, -0, 1e-7, 'a"\\\n\u0001']), '[100000000000,0.1,0,1e-7,"a\\"\\\\\\n\\u0001"]');
});

t.test('non-finite numbers, unsafe integers and non-JSON values are refused', async (t) => {
  for (const v of [NaN, Infinity, 2 ** 53, { n: -(2 ** 60) }, [undefined], 10n, () => 1, new Date(0), new Map()]) {
    t.throws(() => canonicalize(v), refused, String(typeof v === 'bigint' ? `${v}n` : v));
  }
});

t.test('an absent optional field may be spelled undefined', async (t) => {
  t.equal(canonicalize({ a: 1, b: undefined }), '{"a":1}');
});

t.test('canonical bytes parse back to the same value', async (t) => {
  const value = { z: [1, 2.5, 'ü'], a: { nested: null, ok: false } };
  t.same(parseStrictJson(bytes(canonicalize(value))), value);
});

t.test('a duplicate JSON key is refused', async (t) => {
  t.throws(parsing('{"a":1,"a":2}'), refused);
  t.throws(parsing('{"a":2,"a":2}'), refused);
});

t.test('an unsafe integer is refused even when written as it parses', async (t) => {
  t.throws(parsing('{"seq":9007199254740993}'), refused);
  t.throws(parsing('{"seq":9007199254740992}'), { code: 'E_MANIFEST_PARSE', message: /unsafe integer/ });
  t.same(parseStrictJson(bytes('{"seq":9007199254740991}')), { seq: 9007199254740991 });
});

t.test('whitespace, key order, number and escape variants are refused', async (t) => {
  for (const text of ['{"a": 1}', ' {"a":1}', '{"a":1}\n', '{"b":1,"a":2}', '{"a":1.0}', '{"a":1e2}', '{"a":"\\u0061"}', '{"a":"\\/"}']) {
    t.throws(parsing(text), refused, text);
  }
});

t.test('the refusal says where the text departs from canonical form', async (t) => {
  t.throws(parsing('{"b":1,"a":2}'), { message: /at character 2/ });
});

t.test('invalid UTF-8 and a byte-order mark are refused', async (t) => {
  t.throws(parsing(Uint8Array.of(0x22, 0xc3, 0x28, 0x22)), { code: 'E_MANIFEST_PARSE', message: /UTF-8/ });
  t.throws(parsing(Uint8Array.of(0xef, 0xbb, 0xbf, 0x7b, 0x7d)), refused);
});

t.test('a __proto__ key is refused', async (t) => {
  t.throws(parsing('{"__proto__":{"admin":true}}'), { code: 'E_MANIFEST_PARSE', message: /__proto__/ });
  t.throws(parsing('{"a":[{"__proto__":1}]}'), refused);
});

t.test('invalid JSON and hostile nesting are refused with E_MANIFEST_PARSE', async (t) => {
  t.throws(parsing('{"a":'), refused);
  const deep = '['.repeat(10_000) + ']'.repeat(10_000);
  try {
    parseStrictJson(bytes(deep));
    t.fail('deep nesting was accepted');
  } catch (err) {
    t.ok(isUpshiftError(err, 'E_MANIFEST_PARSE'), 'nested too deep');
  }
});
