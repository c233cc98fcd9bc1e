// Every bad download and bundle of issue 10 refused with its own code, as in
// bad-input-manifest.test.ts: nothing left behind, nothing marked bad, the next check clean.
import t from 'tap';
import { DOWNLOAD_CASES, refusedCleanly } from './bad-input-cases.js';

for (const c of DOWNLOAD_CASES) refusedCleanly(t, c);
