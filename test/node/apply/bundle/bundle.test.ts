// A bundle named by a signed manifest is downloaded only from an allowed URL, kept only if
// its bytes are the signed ones, and extracted only if no entry could land outside its
// release dir. Real HTTP on 127.0.0.1, real tarballs, real temp dirs.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import * as tar from 'tar';
import { bundleUrlAllowed, fetchBundle, type BundleRequest } from '../../../../src/node/apply/bundle.js';
import { tempDir } from '../../../helpers/tmp.js';

type Test = Tap.Test;
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A server on port 0 that records every path asked for. */
async function serve(t: Test, handler: Handler): Promise<{ base: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

/** Serves `bytes` at every path, with a Content-Length. */
const bytesAt = (bytes: Buffer): Handler => (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
  res.end(bytes);
};

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A releases/ dir and a request for `bytes` from `url`, allowed under `<base>/app/`. */
function bed(t: Test, base: string, bytes: Buffer, over: Partial<BundleRequest> = {}) {
  const releases = join(tempDir(t, 'upshift-bundle-'), 'releases');
  const dir = join(releases, 'v1-0123456789ab');
  const req: BundleRequest = {
    url: `${base}/app/v1.tgz`, sha256: sha256(bytes), length: bytes.length, dir,
    allow: [`${base}/app/`], maxBytes: 1 << 20, maxUnpackedBytes: 1 << 20, maxEntries: 1_000, timeoutMs: 30_000, ...over,
  };
  /** What is in releases/ besides a finished release: must be nothing after a failure. */
  const leftovers = (): string[] => (existsSync(releases) ? readdirSync(releases) : []);
  return { releases, dir, req, leftovers };
}

/** A real tree packed by tar.create: a plain file, an executable, a nested file. */
async function goodTarball(t: Test, gzip: boolean): Promise<Buffer> {
  const src = tempDir(t);
  mkdirSync(join(src, 'bin'));
  mkdirSync(join(src, 'lib', 'deep'), { recursive: true });
  writeFileSync(join(src, 'README.md'), 'hello\n');
  writeFileSync(join(src, 'bin', 'start'), '#!/bin/sh\necho started\n');
  chmodSync(join(src, 'bin', 'start'), 0o755);
  chmodSync(join(src, 'README.md'), 0o644);
  writeFileSync(join(src, 'lib', 'deep', 'app.js'), 'export const x = 1;\n');
  const out = join(tempDir(t), gzip ? 'b.tgz' : 'b.tar');
  await tar.create({ gzip, cwd: src, file: out, portable: true }, ['.']);
  return readFileSync(out);
}

interface RawEntry { path: string; type: tar.types.EntryTypeName; body?: string; mode?: number; linkpath?: string; paxPath?: string }

/** A tarball written header by header, for what tar.create would not produce. */
function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    if (e.paxPath !== undefined) blocks.push(new tar.Pax({ path: e.paxPath, mtime: new Date(0) }).encode());
    const header = new tar.Header({ path: e.path, type: e.type, mode: e.mode ?? 0o644, size: body.length, mtime: new Date(0), uid: 0, gid: 0, ...(e.linkpath ? { linkpath: e.linkpath } : {}) });
    header.encode();
    blocks.push(header.block as Buffer, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

t.test('a good bundle, gzipped or plain, is extracted with its contents and exec bits', async (t) => {
  for (const gzip of [true, false]) {
    const bytes = await goodTarball(t, gzip);
    const srv = await serve(t, bytesAt(bytes));
    const b = bed(t, srv.base, bytes);
    await fetchBundle(b.req);
    t.equal(readFileSync(join(b.dir, 'README.md'), 'utf8'), 'hello\n', `gzip=${gzip}: file content`);
    t.equal(readFileSync(join(b.dir, 'lib', 'deep', 'app.js'), 'utf8'), 'export const x = 1;\n', `gzip=${gzip}: nested file`);
    t.not(statSync(join(b.dir, 'bin', 'start')).mode & 0o100, 0, `gzip=${gzip}: the executable stays executable`);
    t.equal(statSync(join(b.dir, 'README.md')).mode & 0o111, 0, `gzip=${gzip}: the plain file is not executable`);
    t.same(b.leftovers(), ['v1-0123456789ab'], `gzip=${gzip}: the temp file is gone`);
    t.same(srv.hits, ['/app/v1.tgz'], `gzip=${gzip}: one request`);
  }
});

t.test('modes come down to git\'s two: no setuid, no unreadable files', async (t) => {
  const bytes = rawTar([
    { path: 'suid', type: 'File', mode: 0o4755, body: 'x' },
    { path: 'locked', type: 'File', mode: 0o000, body: 'y' },
  ]);
  const srv = await serve(t, bytesAt(bytes));
  const b = bed(t, srv.base, bytes);
  await fetchBundle(b.req);
  const suid = statSync(join(b.dir, 'suid')).mode;
  t.equal(suid & 0o7000, 0, 'no setuid bit');
  t.not(suid & 0o100, 0, 'still executable');
  t.not(statSync(join(b.dir, 'locked')).mode & 0o400, 0, 'readable by its owner');
});

t.test('a redirect is followed only to an allowed URL', async (t) => {
  const bytes = await goodTarball(t, true);
  const srv = await serve(t, (req, res) => {
    if (req.url === '/app/latest') return void res.writeHead(302, { location: '/app/v1.tgz' }).end();
    if (req.url === '/app/loop') return void res.writeHead(307, { location: '/app/loop' }).end();
    if (req.url === '/app/elsewhere') return void res.writeHead(302, { location: '/private/v1.tgz' }).end();
    bytesAt(bytes)(req, res);
  });
  const ok = bed(t, srv.base, bytes, { url: `${srv.base}/app/latest` });
  await fetchBundle(ok.req);
  t.ok(existsSync(join(ok.dir, 'README.md')), 'an allowed hop is followed');
  srv.hits.length = 0;
  const away = bed(t, srv.base, bytes, { url: `${srv.base}/app/elsewhere` });
  await t.rejects(fetchBundle(away.req), { code: 'E_BUNDLE_PATH', message: /redirects to .*\/private\/v1\.tgz/ });
  t.same(srv.hits, ['/app/elsewhere'], 'the disallowed target is never asked for');
  t.notOk(existsSync(away.dir));
  t.same(away.leftovers(), []);
  srv.hits.length = 0;
  const loop = bed(t, srv.base, bytes, { url: `${srv.base}/app/loop` });
  await t.rejects(fetchBundle(loop.req), { code: 'E_FETCH', message: /more than 5 redirects/ });
  t.equal(srv.hits.length, 6, 'the first request and five redirects, then it gives up');
  t.same(loop.leftovers(), []);
});

t.test('bytes that are not the signed ones are refused and leave nothing behind', async (t) => {
  const bytes = await goodTarball(t, true);

  t.test('wrong sha256', async (t) => {
    const srv = await serve(t, bytesAt(bytes));
    const b = bed(t, srv.base, bytes, { sha256: 'f'.repeat(64) });
    await t.rejects(fetchBundle(b.req), { code: 'E_BUNDLE_INTEGRITY', message: /sha256/ });
    t.notOk(existsSync(b.dir));
    t.same(b.leftovers(), []);
  });

  t.test('more bytes than the manifest says: the download stops early', async (t) => {
    let closed!: Promise<void>;
    const srv = await serve(t, (req, res) => {
      closed = new Promise((ok) => req.socket.on('close', () => ok()));
      res.writeHead(200); // chunked: no length announced
      res.write(Buffer.concat([bytes, Buffer.alloc(64 * 1024)]));
      // ...and never ends: only the client giving up finishes this test.
    });
    const b = bed(t, srv.base, bytes);
    await t.rejects(fetchBundle(b.req), { code: 'E_BUNDLE_INTEGRITY', message: /more than/ });
    await closed;
    t.pass('the client closed the connection of an unfinished answer');
    t.notOk(existsSync(b.dir));
    t.same(b.leftovers(), []);
  });

  t.test('a Content-Length other than the manifest\'s', async (t) => {
    const srv = await serve(t, bytesAt(Buffer.concat([bytes, Buffer.from('tail')])));
    const b = bed(t, srv.base, bytes);
    await t.rejects(fetchBundle(b.req), { code: 'E_BUNDLE_INTEGRITY', message: /announces/ });
    t.same(b.leftovers(), []);
  });

  t.test('fewer bytes than the manifest says', async (t) => {
    const srv = await serve(t, (_req, res) => {
      res.writeHead(200);
      res.end(bytes.subarray(0, bytes.length - 1));
    });
    const b = bed(t, srv.base, bytes);
    await t.rejects(fetchBundle(b.req), { code: 'E_BUNDLE_INTEGRITY', details: { got: bytes.length - 1 } });
    t.same(b.leftovers(), []);
  });

  t.test('not a tarball at all', async (t) => {
    const junk = Buffer.from('<html>not found</html>');
    const srv = await serve(t, bytesAt(junk));
    const b = bed(t, srv.base, junk);
    await t.rejects(fetchBundle(b.req), { code: 'E_BUNDLE_INTEGRITY', message: /not a readable tar archive/ });
    t.notOk(existsSync(b.dir));
    t.same(b.leftovers(), []);
  });
});

t.test('refusals before any request reaches the server', async (t) => {
  const bytes = await goodTarball(t, false);
  const srv = await serve(t, bytesAt(bytes));

  const big = bed(t, srv.base, bytes, { maxBytes: bytes.length - 1 });
  await t.rejects(fetchBundle(big.req), { code: 'E_BUNDLE_INTEGRITY', message: /max_bytes/ }, 'length over max_bytes');

  const elsewhere = bed(t, srv.base, bytes, { allow: [`${srv.base}/other/`] });
  await t.rejects(fetchBundle(elsewhere.req), { code: 'E_BUNDLE_PATH', message: /not under app\.bundles\.allow/ }, 'URL not allowed');

  const malformed = bed(t, srv.base, bytes, { sha256: 'ABC' });
  await t.rejects(fetchBundle(malformed.req), { code: 'E_BUNDLE_INTEGRITY', message: /64 lowercase hex/ }, 'a malformed sha256');

  const ac = new AbortController();
  ac.abort();
  const cancelled = bed(t, srv.base, bytes, { signal: ac.signal });
  await t.rejects(fetchBundle(cancelled.req), { code: 'E_CANCELLED' }, 'already cancelled');

  const taken = bed(t, srv.base, bytes);
  mkdirSync(taken.dir, { recursive: true });
  writeFileSync(join(taken.dir, 'keep'), 'mine');
  await t.rejects(fetchBundle(taken.req), { code: 'E_WORKTREE', message: /already exists/ }, 'existing release dir');
  t.equal(readFileSync(join(taken.dir, 'keep'), 'utf8'), 'mine', 'an existing dir is not touched');

  t.same(srv.hits, [], 'the server saw nothing');
  for (const b of [big, elsewhere, malformed, cancelled]) t.notOk(existsSync(b.dir));
});

t.test('HTTP and network failures are retryable E_FETCH', async (t) => {
  const bytes = await goodTarball(t, false);
  const srv = await serve(t, (_req, res) => void res.writeHead(404).end('no'));
  const b = bed(t, srv.base, bytes);
  const err = await fetchBundle(b.req).catch((e: unknown) => e);
  t.match(err, { code: 'E_FETCH', retryable: true, details: { status: 404 } });
  t.same(b.leftovers(), []);

  const dead = await serve(t, (req) => req.socket.destroy());
  const d = bed(t, dead.base, bytes);
  await t.rejects(fetchBundle(d.req), { code: 'E_FETCH' }, 'a connection dropped before any answer');
  t.same(d.leftovers(), []);
});

t.test('cancelling or running out of time mid-download', async (t) => {
  const bytes = await goodTarball(t, true);
  let started: () => void = () => {};
  const srv = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': bytes.length });
    res.write(bytes.subarray(0, 10)); // then stalls
    started();
  });

  const ac = new AbortController();
  const c = bed(t, srv.base, bytes, { signal: ac.signal });
  started = () => ac.abort();
  await t.rejects(fetchBundle(c.req), { code: 'E_CANCELLED' });
  t.notOk(existsSync(c.dir));
  t.same(c.leftovers(), []);

  started = () => {};
  const slow = bed(t, srv.base, bytes, { timeoutMs: 50 });
  await t.rejects(fetchBundle(slow.req), { code: 'E_TIMEOUT', retryable: true });
  t.same(slow.leftovers(), []);
});

t.test('an entry that is a link or could land outside the release dir is refused by name', async (t) => {
  const onDisk = async (make: (src: string) => void, names: string[]): Promise<Buffer> => {
    const src = tempDir(t);
    writeFileSync(join(src, 'ok.txt'), 'fine\n');
    make(src);
    const out = join(tempDir(t), 'b.tar');
    // the system's tar: node-tar's packer now and then fails a hard link with "write after end"
    execFileSync('tar', ['-cf', out, '-C', src, ...names]);
    return readFileSync(out);
  };
  const ok: RawEntry = { path: 'ok.txt', type: 'File', body: 'fine\n' };
  const cases: Array<{ name: string; entry: string; bytes: Buffer }> = [
    { name: 'a ../ path', entry: '../x', bytes: rawTar([ok, { path: '../x', type: 'File', body: 'escaped' }]) },
    { name: 'a .. in the middle', entry: 'a/../../x', bytes: rawTar([ok, { path: 'a/../../x', type: 'File', body: 'escaped' }]) },
    { name: 'an absolute path', entry: '/etc/x', bytes: rawTar([ok, { path: '/etc/x', type: 'File', body: 'escaped' }]) },
    { name: 'a drive-relative path node-tar would strip', entry: 'c:../x', bytes: rawTar([ok, { path: 'c:../x', type: 'File', body: 'escaped' }]) },
    { name: 'a PAX path over an innocent name', entry: '../pax', bytes: rawTar([ok, { path: 'innocent.txt', paxPath: '../pax', type: 'File', body: 'escaped' }]) },
    { name: 'a symlink', entry: 'link', bytes: await onDisk((src) => symlinkSync('ok.txt', join(src, 'link')), ['ok.txt', 'link']) },
    { name: 'a hard link', entry: 'hard', bytes: await onDisk((src) => linkSync(join(src, 'ok.txt'), join(src, 'hard')), ['ok.txt', 'hard']) },
    { name: 'a hand-made hard link to /etc/passwd', entry: 'pw', bytes: rawTar([ok, { path: 'pw', type: 'Link', linkpath: '/etc/passwd' }]) },
    { name: 'a FIFO', entry: 'fifo', bytes: rawTar([ok, { path: 'fifo', type: 'FIFO' }]) },
    { name: 'a character device', entry: 'null', bytes: rawTar([ok, { path: 'null', type: 'CharacterDevice' }]) },
    { name: 'a type node-tar skips (sparse file)', entry: 'sparse', bytes: rawTar([ok, { path: 'sparse', type: 'SparseFile' }]) },
    { name: 'a file that is the release dir itself', entry: '.', bytes: rawTar([ok, { path: '.', type: 'File', body: 'x' }]) },
    { name: 'git metadata, which would change how the tree is hashed', entry: './.git/HEAD', bytes: rawTar([ok, { path: './.git/HEAD', type: 'File', body: 'ref: refs/heads/main\n' }]) },
  ];
  for (const c of cases) {
    const srv = await serve(t, bytesAt(c.bytes));
    const b = bed(t, srv.base, c.bytes);
    const err = await fetchBundle(b.req).catch((e: unknown) => e);
    t.match(err, { code: 'E_BUNDLE_PATH', details: { entry: c.entry }, message: JSON.stringify(c.entry) }, `${c.name}: refused, the message naming the entry`);
    t.notOk(existsSync(b.dir), `${c.name}: no release dir`);
    t.same(b.leftovers(), [], `${c.name}: nothing else written next to it either`);
  }
});

t.test('bundleUrlAllowed compares parsed URLs, not strings', async (t) => {
  const app = ['https://dl.example.com/app/'];
  const cases: Array<[url: string, allow: readonly string[], allowed: boolean, why: string]> = [
    ['https://dl.example.com/app/v1.tgz', app, true, 'under the prefix'],
    ['https://dl.example.com/app/sub/v1.tgz?X-Sig=abc', app, true, 'deeper, with a query (presigned URLs)'],
    ['https://DL.Example.COM/app/v1.tgz', app, true, 'host names are case-insensitive'],
    ['https://dl.example.com:443/app/v1.tgz', app, true, 'the default port is the same origin'],
    ['https://dl.example.com/app/../other/v1.tgz', app, false, 'dot-dot leaves the prefix after normalization'],
    ['https://dl.example.com/app/%2e%2e/other/v1.tgz', app, false, 'an encoded dot-dot too'],
    ['https://dl.example.com/app\\..\\other/v1.tgz', app, false, 'backslashes are slashes in http(s) URLs'],
    ['https://dl.example.com/app/..%2fother/v1.tgz', app, false, 'an encoded slash a server might decode'],
    ['https://dl.example.com/app/..%5Cother/v1.tgz', app, false, 'an encoded backslash'],
    ['https://dl.example.com.evil.net/app/v1.tgz', app, false, 'a longer host name'],
    ['https://dl.example.com@evil.net/app/v1.tgz', app, false, 'the allowed host as userinfo'],
    ['https://user:pw@dl.example.com/app/v1.tgz', app, false, 'credentials in the URL'],
    ['http://dl.example.com/app/v1.tgz', app, false, 'another scheme'],
    ['https://dl.example.com:8443/app/v1.tgz', app, false, 'another port'],
    ['https://dl.example.com/application.tgz', app, false, 'a string prefix that is not a path prefix'],
    ['https://dl.example.com/APP/v1.tgz', app, false, 'paths are case-sensitive'],
    ['https://dl.example.com/app', app, false, 'the parent of a prefix ending in /'],
    ['ftp://dl.example.com/app/v1.tgz', ['ftp://dl.example.com/app/'], false, 'only http and https'],
    ['file:///app/v1.tgz', ['file:///app/'], false, 'not files either'],
    ['not a url', app, false, 'unparseable'],
    ['https://dl.example.com/app/v1.tgz', [], false, 'an empty allowlist allows nothing'],
    ['https://dl.example.com/app/v1.tgz', ['not a url', 'https://dl.example.com/app/'], true, 'a broken entry does not spoil the others'],
    ['https://dl.example.com/app/v1.tgz', ['https://dl.example.com/app/?x=1'], false, 'a prefix with a query matches nothing'],
    ['https://dl.example.com/app/x.tgz', ['https://dl.example.com/app'], true, 'a prefix without a trailing slash covers its directory'],
    ['https://dl.example.com/apple/x.tgz', ['https://dl.example.com/app'], false, '...but ends at a segment boundary'],
    ['https://dl.example.com/pub/x.tgz', ['https://dl.example.com/app/../pub/'], true, 'prefixes are normalized too'],
    ['https://dl.example.com/any/x.tgz', ['https://dl.example.com'], true, 'a bare origin allows the whole host'],
    ['http://127.0.0.1:8080/b/x.tgz', ['http://127.0.0.1:8080/b/'], true, 'an IP and port'],
    ['http://2130706433:8080/b/x.tgz', ['http://127.0.0.1:8080/b/'], true, 'the same IP written as a number'],
  ];
  for (const [url, allow, allowed, why] of cases) t.equal(bundleUrlAllowed(url, allow), allowed, `${why}: ${url}`);
});
