// A correctly signed bundle that cannot be unpacked (node-tar refuses it, or it is over
// app.bundles limits) fails its apply with a code, marks the version bad, and leaves
// `current` alone; the process applying it survives. Real tarballs on loopback HTTP, the
// engine in-process and as a real child process (dist/bundle/apply-child.js).
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { applyBed, type Bed, type Release } from '../apply-child.js';
import { badChecksum, manyFiles, tarOf, zeroBomb } from './bundle-archives.js';

async function bundleServer(t: Test): Promise<{ base: string; files: Map<string, Buffer> }> {
  const files = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const body = files.get(req.url ?? '');
    res.statusCode = body ? 200 : 404;
    res.end(body ?? 'not found');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => new Promise<void>((ok) => server.close(() => ok())));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, files };
}

/** v1 applied from git; v2 committed, its manifest naming `tarball` as its bundle. */
async function setUp(t: Test, tarball: Buffer, bundles: Record<string, unknown> = {}) {
  const srv = await bundleServer(t);
  const bed = await applyBed(t, { app: { bundles: { allow: [`${srv.base}/b/`], ...bundles } } });
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const v2 = await bed.release('v2');
  srv.files.set('/b/v2.tgz', tarball);
  const sha256 = createHash('sha256').update(tarball).digest('hex');
  const envelope = bed.manifest(v2, 2, { bundle: { url: `${srv.base}/b/v2.tgz`, sha256, length: tarball.length } });
  return { bed, v1, v2, envelope };
}

/** What every refused bundle leaves: v1 current and restarted once, v2 failed and marked bad. */
async function refusedAndMarked(t: Test, bed: Bed, v1: Release, code: string): Promise<void> {
  const tables = bed.tables();
  t.equal(bed.current(), `releases/v1-${v1.commit.slice(0, 12)}`, 'current unchanged');
  t.equal(bed.restarts().length, 1, 'nothing restarted');
  t.equal(tables.open(), null, 'no open apply');
  const applies = (await tables.list()).filter((a) => a.version === 'v2');
  t.match(applies, [{ state: 'failed', code }], 'one apply of v2, failed with the code');
  t.match(await tables.badVersions(), [{ version: 'v2', reason: /^bundle / }], 'v2 is marked bad');
  t.same(bed.releases(), [`v1-${v1.commit.slice(0, 12)}`], 'nothing of v2 left under releases/');
  t.equal(await bed.store().floors.get('testnet'), 1, 'the floor stays');
}

const limits = '0123456789abcdefghijklmnopqrstuvwxyz\n'.repeat(100_000); // 3.7 MB of text, ~60:1
const cases: Array<{ name: string; tarball: () => Buffer; bundles?: Record<string, unknown>; code: string }> = [
  { name: 'a gzip ratio over 1000:1 (a large zero-filled file)', tarball: () => zeroBomb(16 << 20), code: 'E_BUNDLE_LIMIT' },
  { name: 'a tar header with a bad checksum', tarball: () => gzipSync(badChecksum()), code: 'E_BUNDLE_INTEGRITY' },
  { name: 'more unpacked bytes than max_unpacked_bytes', tarball: () => gzipSync(tarOf([{ path: 'big.txt', body: Buffer.from(limits) }])), bundles: { max_unpacked_bytes: 1 << 20 }, code: 'E_BUNDLE_LIMIT' },
  { name: 'more entries than max_entries', tarball: () => gzipSync(manyFiles(2_000)), bundles: { max_entries: 1_000 }, code: 'E_BUNDLE_LIMIT' },
];

for (const c of cases) {
  t.test(`${c.name}: the apply fails with ${c.code} and marks the version bad`, async (t) => {
    const { bed, v1, envelope } = await setUp(t, c.tarball(), c.bundles);
    const err = await bed.engine().applyManifest(envelope).catch((e: unknown) => e);
    t.match(err, { code: c.code, details: { state: 'failed', version: 'v2' } });
    refusedAndMarked(t, bed, v1, c.code);
    await t.rejects(bed.engine().applyManifest(envelope), { code: 'E_BAD_VERSION' }, 'offered again, it is refused, not retried');
  });
}

t.test('in a real process: a bundle node-tar rejects ends the apply, not the process, and is not retried', async (t) => {
  for (const [name, tarball, code] of [
    ['bad header checksum', gzipSync(badChecksum()), 'E_BUNDLE_INTEGRITY'],
    ['ratio over 1000:1', zeroBomb(16 << 20), 'E_BUNDLE_LIMIT'],
  ] as const) {
    const { bed, v1, envelope } = await setUp(t, tarball);
    const first = await bed.child('apply', envelope);
    t.equal(first.signal, null, `${name}: not killed`);
    t.match(first.out, { ok: false, error: { code, details: { state: 'failed' } } }, `${name}: the process reports the coded failure: ${first.stderr}`);
    t.notMatch(first.stderr, /Node\.js v\d/, `${name}: no uncaught error on stderr (Node ends those with its version)`);
    refusedAndMarked(t, bed, v1, code);
    const again = await bed.child('apply', envelope); // what resume() does at the next start
    t.match(again.out, { ok: false, error: { code: 'E_BAD_VERSION' } }, `${name}: the next start refuses it instead of applying it again`);
    t.equal(bed.tables().list().filter((a) => a.version === 'v2').length, 1, `${name}: no second apply of v2`);
  }
});
