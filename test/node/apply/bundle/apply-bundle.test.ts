// SPEC step 2, the bundle way: a manifest naming a tarball on an allowed URL is applied
// from it (downloaded, checked, pre-scanned, extracted); the extracted tree hashes like
// the commit it was made from. Real HTTP on loopback, `git archive` for the tarball.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { applyBed, type Bed } from '../apply-child.js';

async function bundleServer(t: Tap.Test) {
  const files = new Map<string, Buffer>();
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const body = files.get(req.url ?? '');
    res.statusCode = body ? 200 : 404;
    res.end(body ?? 'not found');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => new Promise<void>((ok) => server.close(() => ok())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, files, hits };
}

/** `git archive` of a commit: its tracked files with their modes, nothing else. */
function archive(bed: Bed, commit: string): Buffer {
  return execFileSync('git', ['archive', '--format=tar.gz', commit], { cwd: bed.repo.dir });
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('a bundle on an allowed URL is applied from the tarball, and hashes like its commit', async (t) => {
  const srv = await bundleServer(t);
  const bed = await applyBed(t, { app: { bundles: { allow: [`${srv.base}/releases/`] } } });
  const v1 = await bed.release('v1');
  const tarball = archive(bed, v1.commit);
  srv.files.set('/releases/v1.tar.gz', tarball);
  const out = await bed.engine().applyManifest(bed.manifest(v1, 1, { bundle: { url: `${srv.base}/releases/v1.tar.gz`, sha256: sha256(tarball), length: tarball.length } }));
  t.equal(out.apply?.state, 'confirmed', out.reason);
  t.ok(bed.currentValid());
  t.notOk(existsSync(join(bed.appDir, 'current', '.git')), 'extracted, not cloned');
  t.equal(out.apply?.actualCodeHash, v1.codeHash, 'the extracted tree attests the signed code hash');
});

t.test('a bundle whose bytes do not match the manifest is refused before anything is switched', async (t) => {
  const srv = await bundleServer(t);
  const bed = await applyBed(t, { app: { bundles: { allow: [`${srv.base}/`] } } });
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const v2 = await bed.release('v2');
  const tarball = archive(bed, v2.commit);
  srv.files.set('/v2.tar.gz', tarball);
  const err = await bed.engine().applyManifest(bed.manifest(v2, 2, { bundle: { url: `${srv.base}/v2.tar.gz`, sha256: 'f'.repeat(64), length: tarball.length } })).catch((e: unknown) => e);
  t.match(err, { code: 'E_BUNDLE_INTEGRITY' });
  t.equal(bed.current(), `releases/v1-${v1.commit.slice(0, 12)}`, 'current unchanged');
  t.equal(bed.restarts().length, 1, 'nothing restarted');
});

t.test('a bundle URL that is not allowed is not fetched: the pinned commit comes from app.remote', async (t) => {
  const srv = await bundleServer(t);
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  const tarball = archive(bed, v1.commit);
  srv.files.set('/v1.tar.gz', tarball);
  const out = await bed.engine().applyManifest(bed.manifest(v1, 1, { bundle: { url: `${srv.base}/v1.tar.gz`, sha256: sha256(tarball), length: tarball.length } }));
  t.equal(out.apply?.state, 'confirmed');
  t.ok(existsSync(join(bed.appDir, 'current', '.git')), 'a git checkout');
  t.same(srv.hits, [], 'the bundle URL was never asked');
});
