import t from 'tap';
import { join } from 'node:path';
import { createSourceRepo } from '../../src/adapters/git.js';
import type { SeenVersions, TrackSpec } from '../../src/core/decisions/versions.js';
import { createDetector } from '../../src/runtime/detector.js';
import { gitRepo } from '../helpers/gitdir.js';
import { tempDir } from '../helpers/tmp.js';

const TRACKS: TrackSpec[] = [
  { name: 'testnet', kind: 'branch', branch: 'main' },
  { name: 'production', kind: 'tags', pattern: 'v*.*.*', includePrerelease: false },
];

/**
 * A real source repo and a detector over it, with a seen-store that records what the
 * caller "released" the way the run store would.
 */
function setup(t: { teardown(fn: () => void): void }) {
  const src = gitRepo(t);
  const source = createSourceRepo({ remote: src.dir, mirrorDir: join(tempDir(t), 'mirror') });
  const released = new Map<string, string[]>();
  const seen = (track: TrackSpec): SeenVersions => {
    const list = released.get(track.name) ?? [];
    return { versions: new Set(list), newest: track.kind === 'tags' ? list.at(-1) ?? null : null };
  };
  const release = (track: string, version: string) => released.set(track, [...(released.get(track) ?? []), version]);
  const detector = createDetector({ source, tracks: TRACKS, seen });
  const poll = async () => Object.fromEntries((await detector.poll()).map((p) => [p.track, p]));
  return { src, detector, poll, release };
}

t.test('testnet follows the heads of main', async (t) => {
  const { src, poll, release } = setup(t);
  const first = src.commit('first', { 'a.txt': '1' });
  let got = await poll();
  t.same(got.testnet?.next, { track: 'testnet', version: first, ref: 'main', commit: first });
  release('testnet', first);

  const second = src.commit('second', { 'a.txt': '2' });
  got = await poll();
  t.equal(got.testnet?.next?.commit, second, 'a new commit on main is picked up by the next poll');
});

t.test('production follows tags in semver order', async (t) => {
  const { src, poll, release } = setup(t);
  src.commit('one');
  src.tag('v1.9.0');
  let got = await poll();
  t.equal(got.production?.next?.version, 'v1.9.0');
  release('production', 'v1.9.0');

  const ten = src.commit('ten');
  src.tag('v1.10.0', { annotated: true });
  src.commit('rc');
  src.tag('v1.11.0-rc.1');
  src.tag('nightly');
  got = await poll();
  t.same(got.production?.next, { track: 'production', version: 'v1.10.0', ref: 'v1.10.0', commit: ten }, 'annotated tag peeled; prerelease and non-semver ignored');
  t.same(got.production?.skipped, []);
});

t.test('a fleet that fell behind catches up to the newest tag and the rest are reported skipped', async (t) => {
  const { src, poll, release } = setup(t);
  src.commit('one');
  src.tag('v1.0.0');
  await poll();
  release('production', 'v1.0.0');
  for (const v of ['v1.1.0', 'v1.2.0', 'v1.3.0']) {
    src.commit(v);
    src.tag(v);
  }
  const got = await poll();
  t.equal(got.production?.next?.version, 'v1.3.0');
  t.same(got.production?.skipped.map((c) => c.version), ['v1.1.0', 'v1.2.0']);
  t.match(got.production?.reason, /superseded by v1\.3\.0/);
});

t.test('a version already seen is not offered again', async (t) => {
  const { src, poll, release } = setup(t);
  const head = src.commit('one');
  src.tag('v1.0.0');
  const before = await poll();
  release('testnet', head);
  release('production', 'v1.0.0');
  t.ok(before.testnet?.next && before.production?.next, 'offered once');

  const after = await poll();
  t.equal(after.testnet?.next, null);
  t.match(after.testnet?.reason, /already seen/);
  t.equal(after.production?.next, null);
  t.match(after.production?.reason, /no new tag/);
});

t.test('a source without main reports the missing branch instead of failing', async (t) => {
  const src = gitRepo(t, { branch: 'trunk' });
  src.commit('one');
  const source = createSourceRepo({ remote: src.dir, mirrorDir: join(tempDir(t), 'mirror') });
  const detector = createDetector({ source, tracks: TRACKS, seen: () => ({ versions: new Set(), newest: null }) });
  const [testnet, production] = await detector.poll();
  t.equal(testnet?.next, null);
  t.match(testnet?.reason, /branch main does not exist/);
  t.match(production?.reason, /no tag matches/);
});

t.test('one poll fetches once for all tracks', async (t) => {
  const src = gitRepo(t);
  src.commit('one');
  const real = createSourceRepo({ remote: src.dir, mirrorDir: join(tempDir(t), 'mirror') });
  let fetches = 0;
  const source = { ...real, fetch: (signal?: AbortSignal) => (fetches++, real.fetch(signal)) };
  const tracks: TrackSpec[] = [...TRACKS, { name: 'staging', kind: 'tags', pattern: 'v*', includePrerelease: true }];
  const detector = createDetector({ source, tracks, seen: () => ({ versions: new Set(), newest: null }) });
  t.equal((await detector.poll()).length, 3);
  t.equal(fetches, 1);
});

t.test('a cancelled poll rejects with E_CANCELLED', async (t) => {
  const { src, detector } = setup(t);
  src.commit('one');
  await t.rejects(detector.poll(AbortSignal.abort()), { code: 'E_CANCELLED' });
});
