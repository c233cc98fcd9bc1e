// A node's release fetch (node/apply/release-dir.ts): cancelling and git's own failures come
// back as E_CANCELLED and E_FETCH, with git's reason and, underneath, E_GIT with its exit code.
import t from 'tap';
import { join } from 'node:path';
import { fetchRelease } from '../../../../src/node/apply/release-dir.js';
import { gitRepo } from '../../../helpers/gitdir.js';
import { tempDir } from '../../../helpers/tmp.js';

t.test('a cancelled fetch is E_CANCELLED; a commit the remote lacks is E_FETCH with git\'s reason', async (t) => {
  const repo = gitRepo(t);
  repo.commit('v1', { 'app.js': 'console.log(1)\n' });
  const work = tempDir(t);
  const missing = 'f'.repeat(40);
  await t.rejects(fetchRelease({ remote: repo.dir, commit: missing, dir: join(work, 'a'), signal: AbortSignal.abort() }), { code: 'E_CANCELLED' });
  await t.rejects(fetchRelease({ remote: repo.dir, commit: missing, dir: join(work, 'b') }), { code: 'E_FETCH', message: /is not in/ });
  const err = await fetchRelease({ remote: join(work, 'nowhere'), commit: missing, dir: join(work, 'c') }).catch((e: unknown) => e);
  t.match(err, { code: 'E_FETCH', message: /does not appear to be a git repository/ }, 'git\'s own words');
  t.match((err as { cause?: unknown }).cause, { code: 'E_GIT', details: { exitCode: 128 } }, 'with its exit code');
});
