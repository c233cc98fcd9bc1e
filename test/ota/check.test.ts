// `ota check --apply` against a loopback feed: a node behind converges to the newest release
// in one check, an interrupted transfer resumes with a Range request, and approval fails closed.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { exitCodeOf } from '../../src/ota/check.js';
import { otaBed } from './ota-bed.js';

const stagingEmpty = (stateDir: string) => !existsSync(join(stateDir, 'ota')) || readdirSync(join(stateDir, 'ota')).length === 0;

t.test('a node three releases behind converges to the newest in one check', async (t) => {
  const ota = await otaBed(t);
  const v1 = await ota.release('v1', 1);
  await ota.bed.engine().applyManifest(v1.manifest);
  const later = [await ota.release('v2', 2), await ota.release('v3', 3), await ota.release('v4', 4)];
  ota.serve([v1, ...later]);
  const out = await ota.check();
  t.equal(out.outcome, 'updated', out.reason);
  t.equal(exitCodeOf(out), 0);
  t.match(out, { from: { seq: 1, version: 'v1' }, release: { tag: 'testnet-4', seq: 4, version: 'v4' } });
  t.equal(ota.bed.current(), `releases/v4-${later[2]!.r.commit.slice(0, 12)}`, 'current is the newest release');
  t.equal((await ota.bed.store().floors.get('testnet')), 4);
  t.same(ota.srv.log.filter((l) => l.url.includes('testnet-2') || l.url.includes('testnet-3')), [], 'the releases in between were never fetched');
  t.ok(stagingEmpty(ota.bed.stateDir), 'the staging dir is gone');

  const again = await ota.check();
  t.equal(again.outcome, 'up-to-date', again.reason);
  t.equal(exitCodeOf(again), 0);
});

t.test('without --apply the newest release is reported, verified, and nothing is downloaded or applied', async (t) => {
  const ota = await otaBed(t);
  const v1 = await ota.release('v1', 1);
  ota.serve([v1]);
  const out = await ota.check({ apply: false });
  t.equal(out.outcome, 'available', out.reason);
  t.equal(ota.bed.current(), null);
  t.notOk(ota.srv.log.some((l) => l.url.endsWith('.tar.gz')), 'no bundle downloaded');
});

t.test('an interrupted download resumes with a Range request instead of starting over', async (t) => {
  const ota = await otaBed(t);
  // a bundle big enough to be cut in the middle: incompressible content
  const v1 = await ota.release('v1', 1, {}, {});
  const { randomBytes } = await import('node:crypto');
  const big = await ota.bed.release('v2', { files: { 'blob.bin': randomBytes(300_000).toString('base64') } });
  const bundle = ota.archive(big.commit);
  const v2 = { r: big, tag: 'testnet-2', manifest: ota.bed.manifest(big, 2), bundle, bundleName: `v2-${big.commit.slice(0, 12)}.tar.gz` };
  ota.srv.files.set(`/testnet/testnet-2/${v2.bundleName}`, { body: bundle, cutAfter: 100_000 });
  ota.serve([v1, v2]);
  const out = await ota.check();
  t.equal(out.outcome, 'updated', out.reason);
  t.equal(out.download?.resumes, 1);
  const hits = ota.srv.log.filter((l) => l.url.endsWith(v2.bundleName));
  t.equal(hits.length, 2, 'two requests for the bundle');
  t.equal(hits[0]!.range, null, 'the first asked for the whole file');
  t.match(hits[1]!.range, /^bytes=\d+-$/, 'the second resumed with a Range request');
  t.not(hits[1]!.range, 'bytes=0-', 'from where the first stopped, not from the start');
  t.equal((await ota.bed.store().floors.get('testnet')), 2);
});

t.test('a server that answers the Range request with the whole file is read again from the start', async (t) => {
  const ota = await otaBed(t);
  const { randomBytes } = await import('node:crypto');
  const rel = await ota.bed.release('v1', { files: { 'blob.bin': randomBytes(300_000).toString('base64') } });
  const bundle = ota.archive(rel.commit);
  const v1 = { r: rel, tag: 'testnet-1', manifest: ota.bed.manifest(rel, 1), bundle, bundleName: `v1-${rel.commit.slice(0, 12)}.tar.gz` };
  ota.srv.files.set(`/testnet/testnet-1/${v1.bundleName}`, { body: bundle, cutAfter: 100_000, ignoreRange: true });
  ota.serve([v1]);
  const out = await ota.check();
  t.equal(out.outcome, 'updated', out.reason);
  const hits = ota.srv.log.filter((l) => l.url.endsWith(v1.bundleName));
  t.equal(hits.length, 2);
  t.match(hits[1]!.range, /^bytes=\d+-$/, 'it asked for the rest');
  t.equal((await ota.bed.store().floors.get('testnet')), 1, 'and the whole file it got instead hashed right');
});

for (const [name, file, ota_, code] of [
  ['down', null, {}, 'E_APPROVAL_UNAVAILABLE'],
  ['answering 500', { status: 500, body: Buffer.from('{"approved": true}') }, {}, 'E_APPROVAL_DENIED'],
  ['too slow', { delayMs: 3000, body: Buffer.from('{"approved": true}') }, { approval: { timeout: '200ms' } }, 'E_APPROVAL_UNAVAILABLE'],
  ['saying approved: false', { body: Buffer.from('{"approved": false, "reason": "change freeze"}') }, {}, 'E_APPROVAL_DENIED'],
  ['saying approved: "true" (a string)', { body: Buffer.from('{"approved": "true"}') }, {}, 'E_APPROVAL_UNAVAILABLE'],
  ['answering HTML', { body: Buffer.from('<html>ok</html>') }, {}, 'E_APPROVAL_UNAVAILABLE'],
] as const) {
  t.test(`an approval endpoint ${name} leaves the node where it was`, async (t) => {
    const ota = await otaBed(t);
    const v1 = await ota.release('v1', 1);
    await ota.bed.engine().applyManifest(v1.manifest);
    const v2 = await ota.release('v2', 2);
    ota.serve([v1, v2]);
    if (file) ota.srv.files.set('/approve', file);
    const url = file ? `${ota.srv.base}/approve` : 'http://127.0.0.1:9/approve';
    const out = await ota.check({}, { approval: { url, ...('approval' in ota_ ? ota_.approval : {}) } });
    t.equal(out.outcome, 'refused', out.reason);
    t.equal(out.error?.code, code);
    t.equal(exitCodeOf(out), 3);
    t.equal(ota.bed.current(), `releases/v1-${v1.r.commit.slice(0, 12)}`, 'current unchanged');
    t.equal((await ota.bed.store().floors.get('testnet')), 1);
    t.ok(stagingEmpty(ota.bed.stateDir), 'the staging dir is gone');
    if (file) t.match(ota.srv.log.find((l) => l.url.startsWith('/approve'))?.url, /node=node-a&track=testnet&version=v2&seq=2/);
  });
}

t.test('an approval of exactly 200 {"approved": true} lets the release through', async (t) => {
  const ota = await otaBed(t);
  const v1 = await ota.release('v1', 1);
  ota.serve([v1]);
  ota.srv.files.set('/approve', { body: Buffer.from('{"approved": true}') });
  const out = await ota.check({}, { approval: { url: `${ota.srv.base}/approve` } });
  t.equal(out.outcome, 'updated', out.reason);
});
