// Signed bytes that node-tar rejects or that unpack to far more than they weigh: every one is
// a coded refusal with nothing written, and none of them takes the process down (node-tar
// raises its errors from inside write(); an unawaited rejection there used to kill Node).
// Real tarballs on real HTTP on 127.0.0.1, real temp dirs.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { fetchBundle, type BundleRequest } from '../../../../src/node/apply/bundle.js';
import { badChecksum, manyFiles, tarOf, zeroBomb } from './bundle-archives.js';
import { tempDir } from '../../../helpers/tmp.js';

type Test = Tap.Test;

/** Serves `bytes` at every path; a request for `bytes` under the allowed prefix. */
async function bed(t: Test, bytes: Buffer, over: Partial<BundleRequest> = {}) {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': bytes.length });
    res.end(bytes);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const releases = join(tempDir(t, 'upshift-bundle-'), 'releases');
  const req: BundleRequest = {
    url: `${base}/app/v1.tgz`, sha256: createHash('sha256').update(bytes).digest('hex'), length: bytes.length,
    dir: join(releases, 'v1-0123456789ab'), allow: [`${base}/app/`], maxBytes: 64 << 20, timeoutMs: 30_000,
    maxUnpackedBytes: 64 << 20, maxEntries: 10_000, ...over,
  };
  return { req, leftovers: () => (existsSync(releases) ? readdirSync(releases) : []) };
}

t.test('a gzip stream of zeros past 1000:1 is refused as over a limit, not as a crash', async (t) => {
  const bytes = zeroBomb(16 << 20);
  t.ok(bytes.length * 1000 < 16 << 20, `the archive really is over 1000:1 (${bytes.length} bytes for 16 MiB)`);
  const b = await bed(t, bytes);
  await t.rejects(fetchBundle(b.req), { code: 'E_BUNDLE_LIMIT', message: /decompression ratio/ });
  t.same(b.leftovers(), [], 'no release dir, no temp file');
});

t.test('a tar header with a bad checksum is E_BUNDLE_INTEGRITY, plain or gzipped', async (t) => {
  for (const gzip of [false, true]) {
    const bytes = gzip ? gzipSync(badChecksum()) : badChecksum();
    const b = await bed(t, bytes);
    await t.rejects(fetchBundle(b.req), { code: 'E_BUNDLE_INTEGRITY', message: /checksum/ }, `gzip=${gzip}`);
    t.same(b.leftovers(), [], `gzip=${gzip}: nothing left behind`);
  }
});

t.test('a bundle unpacking past max_unpacked_bytes is refused at the entry that crosses it', async (t) => {
  // ~60:1, well under node-tar's ratio guard: only the absolute limit stops it.
  const text = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz\n'.repeat(100_000)); // 3.7 MB
  const bytes = gzipSync(tarOf([{ path: 'a.txt', body: Buffer.from('small\n') }, { path: 'big.txt', body: text }]));
  const b = await bed(t, bytes, { maxUnpackedBytes: 1 << 20 });
  await t.rejects(fetchBundle(b.req), { code: 'E_BUNDLE_LIMIT', message: /"big\.txt".*max_unpacked_bytes \(1048576\)/, details: { entry: 'big.txt' } });
  t.same(b.leftovers(), []);

  const fits = await bed(t, bytes, { maxUnpackedBytes: text.length + 6 });
  await fetchBundle(fits.req);
  t.same(fits.leftovers(), ['v1-0123456789ab'], 'exactly at the limit is allowed');
});

t.test('a bundle with more entries than max_entries is refused before anything is written', async (t) => {
  const bytes = gzipSync(manyFiles(1_500));
  const b = await bed(t, bytes, { maxEntries: 1_000 });
  await t.rejects(fetchBundle(b.req), { code: 'E_BUNDLE_LIMIT', message: /more than 1000 entries.*max_entries/ });
  t.same(b.leftovers(), []);

  const fits = await bed(t, bytes, { maxEntries: 1_500 });
  await fetchBundle(fits.req);
  t.equal(readdirSync(fits.req.dir).length, 1_500, 'exactly at the limit is extracted');
});
