// Every bad manifest and feed of issue 10 refused with its own code: the staging dir is gone,
// `current` is unchanged, nothing is marked bad (the feed is not signed: whoever serves it must
// not be able to get good versions marked bad), and the next check starts clean.
import t from 'tap';
import { CASES, MANIFEST_CASES, refusedCleanly } from './bad-input-cases.js';

for (const c of MANIFEST_CASES) refusedCleanly(t, c);

t.test('the refusals name distinct codes where the checks differ', async (t) => {
  t.equal(new Set(CASES.map((c) => c.code)).size >= 14, true);
});
