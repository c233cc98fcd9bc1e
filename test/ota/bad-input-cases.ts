// The bad inputs of issue 10, each with the code it must be refused with, and the check every
// one of them goes through (bad-input-*.test.ts: two files, so the cases run in two jobs).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Test } from 'tap';
import * as tar from 'tar';
import { serializeEnvelope } from '../../src/trust/envelope.js';
import { signerFromSeed } from '../../src/trust/keyfile.js';
import { signManifest } from '../../src/trust/verify-manifest.js';
import { exitCodeOf } from '../../src/ota/check.js';
import { zeroBomb } from '../node/apply/bundle/bundle-archives.js';
import { otaBed, type FeedRelease, type OtaBed } from './ota-bed.js';

/** A gzipped tar with one entry of the given type (and a harmless file before it). */
function tarWith(entry: { path: string; type: string; linkpath?: string }): Buffer {
  const blocks: Buffer[] = [];
  const add = (h: tar.HeaderData, body = Buffer.alloc(0)) => {
    const header = new tar.Header({ mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, size: body.length, ...h });
    header.encode();
    blocks.push(header.block as Buffer, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  };
  add({ path: 'app.txt', type: 'File' }, Buffer.from('v2'));
  add({ path: entry.path, type: entry.type as tar.HeaderData['type'], ...(entry.linkpath ? { linkpath: entry.linkpath } : {}) });
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

export interface Case {
  name: string;
  code: string;
  exit?: 1 | 3;
  /** Turn the good v2 release into the bad one (and the server's behaviour). */
  spoil: (ota: OtaBed, v2: FeedRelease & { r: { commit: string } }) => Promise<FeedRelease | void> | FeedRelease | void;
  ota?: Record<string, unknown>;
  app?: Record<string, unknown>;
  check?: Record<string, unknown>;
  /** The feed itself, served instead of the releases. */
  feed?: () => Buffer;
}

const other = signerFromSeed(new Uint8Array(32).fill(9));
const resign = (ota: OtaBed, v2: FeedRelease & { r: { commit: string; version: string; codeHash: string } }, m: Record<string, unknown>) =>
  ({ ...v2, manifest: ota.bed.manifest(v2.r, 2, m) });
const badTar = (v2: FeedRelease, body: Buffer): FeedRelease => ({ ...v2, bundle: body });

/** The manifest and the feed: what the signature, the floor and the feed's parser refuse. */
export const MANIFEST_CASES: Case[] = [
  { name: 'a checksum mismatch', code: 'E_CHECKSUM', spoil: (_o, v2) => ({ ...v2, digest: `sha256:${'0'.repeat(64)}` }) },
  {
    name: 'a bundle unlike the one the signed manifest names', code: 'E_CHECKSUM',
    spoil: (o, v2) => resign(o, v2 as never, { bundle: { url: 'https://x.invalid/b.tgz', sha256: 'a'.repeat(64), length: v2.bundle.length } }),
  },
  {
    name: 'an unsigned manifest', code: 'E_MANIFEST_PARSE',
    spoil: (_o, v2) => ({ ...v2, manifest: JSON.stringify({ ...JSON.parse(v2.manifest), signatures: [] }) }),
  },
  {
    name: 'a manifest signed by an unknown key', code: 'E_UNKNOWN_KEY',
    spoil: (_o, v2) => {
      const env = JSON.parse(v2.manifest) as { payload: string };
      const payload = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
      return { ...v2, manifest: serializeEnvelope(signManifest(payload, [other])) };
    },
  },
  { name: 'a release at the floor', code: 'E_ROLLBACK', spoil: (o, v2) => ({ ...resign(o, v2 as never, { seq: 1 }), tag: 'testnet-2' }) },
  { name: "another fleet's release", code: 'E_WRONG_FLEET', spoil: (o, v2) => resign(o, v2 as never, { fleet: 'other' }) },
  { name: "another track's release", code: 'E_WRONG_TRACK', spoil: (o, v2) => resign(o, v2 as never, { track: 'production' }) },
  {
    name: 'an expired manifest', code: 'E_EXPIRED',
    spoil: (o, v2) => resign(o, v2 as never, { created_at: new Date(Date.now() - 7_200_000).toISOString(), expires_at: new Date(Date.now() - 3_600_000).toISOString() }),
  },
  { name: 'a feed that is not JSON', code: 'E_FEED_PARSE', exit: 1, spoil: () => {}, feed: () => Buffer.from('<html>502 Bad Gateway</html>') },
  {
    name: 'a feed with ten thousand releases', code: 'E_FEED_TOO_LARGE', exit: 1, spoil: () => {},
    feed: () => Buffer.from(JSON.stringify(Array.from({ length: 10_000 }, (_, i) => ({ tag_name: `testnet-${i + 10}`, assets: [] })))),
  },
];

/** The download and the bundle: the origin, the size, the rate, the disk and the archive. */
export const DOWNLOAD_CASES: Case[] = [
  { name: 'an asset URL outside the allowlist', code: 'E_OTA_ORIGIN', spoil: (_o, v2) => ({ ...v2, bundleUrl: `http://localhost:9/${v2.bundleName}` }) },
  {
    name: 'a redirect to another origin', code: 'E_OTA_REDIRECT',
    spoil: (o, v2) => void o.srv.files.set(`/testnet/${v2.tag}/${v2.bundleName}`, { body: v2.bundle, redirect: `http://localhost:1/${v2.bundleName}` }),
  },
  { name: 'a body longer than announced', code: 'E_DOWNLOAD_TOO_LARGE', spoil: (_o, v2) => ({ ...v2, size: v2.bundle.length - 100 }) },
  {
    name: 'a server that trickles below the minimum rate', code: 'E_DOWNLOAD_SLOW', exit: 1,
    ota: { min_rate: 100_000, rate_window: '300ms' },
    spoil: (o, v2) => void o.srv.files.set(`/testnet/${v2.tag}/${v2.bundleName}`, { body: v2.bundle, trickle: { bytes: 8, everyMs: 100 } }),
  },
  {
    name: 'a download past the overall deadline', code: 'E_TIMEOUT', exit: 1, ota: { deadline: '1s', min_rate: 0 },
    spoil: (o, v2) => void o.srv.files.set(`/testnet/${v2.tag}/${v2.bundleName}`, { body: v2.bundle, trickle: { bytes: 8, everyMs: 100 } }),
  },
  {
    name: 'a disk that cannot hold the bundle', code: 'E_DISK_FULL', exit: 1, app: { bundles: { max_bytes: 2 ** 52 } },
    spoil: (_o, v2) => ({ ...v2, size: 2 ** 51 }),
  },
  {
    // the feed is unsigned: its digest can vouch for any tarball; the signed code hash cannot
    name: 'a well-formed bundle of another tree', code: 'E_BAD_VERSION',
    spoil: (o, v2) => badTar(v2, o.archive(o.bed.repo.git('rev-parse', 'HEAD~1'))),
  },
  { name: 'a tar with ../x', code: 'E_BUNDLE_PATH', spoil: (_o, v2) => badTar(v2, tarWith({ path: '../x', type: 'File' })) },
  { name: 'a tar with an absolute path', code: 'E_BUNDLE_PATH', spoil: (_o, v2) => badTar(v2, tarWith({ path: '/etc/x', type: 'File' })) },
  { name: 'a tar with a symlink', code: 'E_BUNDLE_PATH', spoil: (_o, v2) => badTar(v2, tarWith({ path: 'l', type: 'SymbolicLink', linkpath: '/etc/passwd' })) },
  { name: 'a tar with a hardlink', code: 'E_BUNDLE_PATH', spoil: (_o, v2) => badTar(v2, tarWith({ path: 'h', type: 'Link', linkpath: 'app.txt' })) },
  { name: 'a tar with a device', code: 'E_BUNDLE_PATH', spoil: (_o, v2) => badTar(v2, tarWith({ path: 'd', type: 'CharacterDevice' })) },
  { name: 'a gzip bomb', code: 'E_BUNDLE_LIMIT', spoil: (_o, v2) => badTar(v2, zeroBomb(32 * 1024 * 1024)) },
];

export const CASES = [...MANIFEST_CASES, ...DOWNLOAD_CASES];

const stagingEmpty = (stateDir: string) => !existsSync(join(stateDir, 'ota')) || readdirSync(join(stateDir, 'ota')).length === 0;

/** The case refused, the node unchanged, and the next check, against a good feed, clean. */
export function refusedCleanly(t: Test, c: Case): void {
  t.test(`${c.name} is refused with ${c.code}; the node stays, and the next check starts clean`, async (t) => {
    const ota = await otaBed(t, c.app ? { app: c.app } : {});
    const v1 = await ota.release('v1', 1);
    await ota.bed.engine().applyManifest(v1.manifest);
    const v2 = await ota.release('v2', 2);
    const spoiled = (await c.spoil(ota, v2)) ?? v2;
    ota.serve([v1, spoiled]);
    if (c.feed) ota.srv.files.set('/testnet/releases.json', { body: c.feed() });
    const out = await ota.check(c.check ?? {}, c.ota ?? {});
    t.equal(out.error?.code, c.code, out.reason);
    t.equal(exitCodeOf(out), c.exit ?? 3);
    t.equal(ota.bed.current(), `releases/v1-${v1.r.commit.slice(0, 12)}`, 'current unchanged');
    t.same(ota.bed.releases(), [`v1-${v1.r.commit.slice(0, 12)}`], 'no release dir left');
    t.equal((await ota.bed.store().floors.get('testnet')), 1, 'floor unchanged');
    t.same((await ota.bed.store().journal.badVersions()), [], 'nothing marked bad');
    t.ok(stagingEmpty(ota.bed.stateDir), 'the staging dir is gone');

    ota.srv.files.delete(`/testnet/${v2.tag}/${v2.bundleName}`);
    ota.serve([v1, v2]);
    const next = await ota.check({}, c.ota && 'min_rate' in c.ota ? {} : c.ota ?? {});
    t.equal(next.outcome, 'updated', `the next check with a good feed: ${next.reason}`);
  });
}

