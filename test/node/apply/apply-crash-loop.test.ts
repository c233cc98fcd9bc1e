// An apply that kills the process applying it would start again at every start (the held
// manifest is resumed) and kill it again. After MAX_INTERRUPTED_APPLIES interrupted applies
// the version is marked bad instead. Real child processes that SIGKILL themselves at a
// failpoint (UPSHIFT_FAILPOINTS), as a release that crashes the daemon would.
import t from 'tap';
import { MAX_INTERRUPTED_APPLIES } from '../../../src/node/apply/reconcile.js';
import { applyBed } from './apply-child.js';

t.test('an apply killed at the same point again and again is marked bad, not started a fourth time', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const v2 = await bed.release('v2');
  const envelope = bed.manifest(v2, 2);
  const onV1 = `releases/v1-${v1.commit.slice(0, 12)}`;

  t.equal(MAX_INTERRUPTED_APPLIES, 3);
  for (let i = 1; i <= MAX_INTERRUPTED_APPLIES; i++) {
    // each start reconciles the apply the previous one left open, then applies the manifest again
    const crashed = await bed.child('apply', envelope, { UPSHIFT_FAILPOINTS: 'apply:fetched' });
    t.equal(crashed.signal, 'SIGKILL', `attempt ${i} died mid-apply: ${crashed.stderr}`);
    t.equal(bed.current(), onV1, `attempt ${i}: current unchanged`);
  }
  t.same(bed.tables().badVersions(), [], 'two interruptions reconciled, the third still open: nothing marked yet');

  const restarted = await bed.child('reconcile');
  t.match(restarted.out, { ok: true, result: { from: 'verified', to: 'abandoned' } }, `the next start reconciles: ${restarted.stderr}`);
  const tables = bed.tables();
  t.match(await tables.badVersions(), [{ version: 'v2', commit: v2.commit, reason: /interrupted 3 times/ }], 'v2 is marked bad, saying why');
  t.match((await bed.store().events()).filter((e) => e.kind === 'apply.marked_bad'), [{ data: { version: 'v2', seq: 2 } }], 'and an event says so');

  const resumed = await bed.child('apply', envelope); // what resume() does with the held manifest
  t.match(resumed.out, { ok: false, error: { code: 'E_BAD_VERSION', message: /interrupted 3 times/ } }, 'the held manifest is refused');
  const applies = (await tables.list()).filter((a) => a.version === 'v2');
  t.equal(applies.length, MAX_INTERRUPTED_APPLIES, 'no fourth apply of v2 was started');
  t.ok(applies.every((a) => a.state === 'abandoned'), 'each interrupted apply ended abandoned');
  t.equal(bed.current(), onV1, 'current is still v1');
  t.equal(await bed.store().floors.get('testnet'), 1, 'the floor stays');

  // An operator's unmark lets it be tried once more: the next crash marks it again at once.
  await tables.clearBad('testnet', 'v2');
  const retried = await bed.child('apply', envelope, { UPSHIFT_FAILPOINTS: 'apply:fetched' });
  t.equal(retried.signal, 'SIGKILL');
  await bed.child('reconcile');
  t.match(bed.tables().badVersions(), [{ version: 'v2', reason: /interrupted 4 times/ }]);
});

t.test('an apply interrupted fewer times is tried again and can succeed', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const v2 = await bed.release('v2');
  const envelope = bed.manifest(v2, 2);
  for (let i = 1; i < MAX_INTERRUPTED_APPLIES; i++) {
    const crashed = await bed.child('apply', envelope, { UPSHIFT_FAILPOINTS: 'apply:hooks-done' });
    t.equal(crashed.signal, 'SIGKILL');
  }
  const ok = await bed.child('apply', envelope);
  t.match(ok.out, { ok: true, result: { apply: { state: 'confirmed' } } }, ok.stderr);
  t.equal(bed.current(), `releases/v2-${v2.commit.slice(0, 12)}`);
  t.same(bed.tables().badVersions(), []);
});
