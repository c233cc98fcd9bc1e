import t from 'tap';
import { checkReleaseOrder, compareVersions, detectNext, newestVersion, tagSemver, type TrackSpec } from '../../src/core/decisions/versions.js';

const production: TrackSpec = { name: 'production', kind: 'tags', pattern: 'v*.*.*', includePrerelease: false };
const staging: TrackSpec = { name: 'staging', kind: 'tags', pattern: 'v*.*.*', includePrerelease: true };
const testnet: TrackSpec = { name: 'testnet', kind: 'branch', branch: 'main' };

/** A fake commit id per tag, so each case only has to list tag names. */
const sha = (s: string): string => Buffer.from(s).toString('hex').padEnd(40, '0').slice(0, 40);
const tags = (...names: string[]) => names.map((tag) => ({ tag, commit: sha(tag) }));
const seen = (versions: string[] = [], newest: string | null = versions.at(-1) ?? null) => ({ versions: new Set(versions), newest });

interface TagCase {
  name: string;
  track?: TrackSpec;
  tags: string[];
  seen?: { versions: Set<string>; newest: string | null };
  next: string | null;
  skipped?: string[];
  reason: RegExp;
}

const tagCases: TagCase[] = [
  { name: 'the first release of a track is its newest tag', tags: ['v1.0.0'], next: 'v1.0.0', reason: /v1\.0\.0 is the newest new tag/ },
  { name: 'v1.10.0 comes after v1.9.0 (semver, not string order)', tags: ['v1.10.0', 'v1.9.0'], seen: seen(['v1.9.0']), next: 'v1.10.0', reason: /v1\.10\.0/ },
  { name: 'v1.9.0 does not come after v1.10.0', tags: ['v1.9.0', 'v1.10.0'], seen: seen(['v1.10.0']), next: null, reason: /no new tag.*after v1\.10\.0; 1 unseen tag not newer than v1\.10\.0 ignored/ },
  { name: 'nothing new when the newest tag was seen', tags: ['v1.0.0', 'v1.1.0'], seen: seen(['v1.0.0', 'v1.1.0']), next: null, reason: /no new tag matching v\*\.\*\.\* after v1\.1\.0/ },
  {
    name: 'catch-up after several tags appeared picks the newest and lists the rest as skipped',
    tags: ['v1.0.0', 'v1.3.0', 'v1.1.0', 'v1.2.0'],
    seen: seen(['v1.0.0']),
    next: 'v1.3.0',
    skipped: ['v1.1.0', 'v1.2.0'],
    reason: /v1\.1\.0, v1\.2\.0 superseded by v1\.3\.0/,
  },
  { name: 'prereleases are not offered on a stable track', tags: ['v1.0.0', 'v1.1.0-rc.1'], seen: seen(['v1.0.0']), next: null, reason: /no new tag/ },
  { name: 'a stable track ignores a prerelease newer than its release', tags: ['v1.0.0', 'v2.0.0-beta.1'], next: 'v1.0.0', reason: /v1\.0\.0/ },
  { name: 'a prerelease track offers prereleases', track: staging, tags: ['v1.0.0', 'v1.1.0-rc.1'], seen: seen(['v1.0.0']), next: 'v1.1.0-rc.1', reason: /rc\.1/ },
  { name: 'the release beats its own release candidate', track: staging, tags: ['v1.1.0-rc.2', 'v1.1.0', 'v1.1.0-rc.1'], seen: seen(['v1.0.0']), next: 'v1.1.0', skipped: ['v1.1.0-rc.1', 'v1.1.0-rc.2'], reason: /superseded by v1\.1\.0/ },
  { name: 'rc.10 comes after rc.9', track: staging, tags: ['v2.0.0-rc.10', 'v2.0.0-rc.9'], seen: seen(['v2.0.0-rc.9']), next: 'v2.0.0-rc.10', reason: /rc\.10/ },
  { name: 'non-semver tags are ignored', tags: ['v1.0', 'v1.2.3.4', 'vv1.2.3', 'v01.2.3', 'latest', 'v1.x.0'], next: null, reason: /no tag matches v\*\.\*\.\* as non-prerelease semver/ },
  { name: 'tags outside the glob are ignored even when semver', tags: ['1.5.0', 'release/v2.0.0', 'v1.0.0'], next: 'v1.0.0', reason: /v1\.0\.0/ },
  { name: 'an unseen tag older than the newest seen is ignored, not skipped', tags: ['v1.0.0', 'v1.1.0', 'v1.2.0'], seen: seen(['v1.0.0', 'v1.2.0']), next: null, reason: /1 unseen tag not newer than v1\.2\.0 ignored/ },
  { name: 'a catch-up that also passes an old unseen tag says both', tags: ['v0.9.0', 'v1.0.0', 'v1.1.0'], seen: seen(['v1.0.0']), next: 'v1.1.0', reason: /v1\.1\.0 is the newest new tag.*1 unseen tag not newer than v1\.0\.0 ignored/ },
  { name: 'a tag re-pushed under the same version is not offered again', tags: ['v1.0.0', '1.0.0'], track: { ...production, pattern: '*' }, seen: seen(['v1.0.0']), next: null, reason: /not newer than v1\.0\.0/ },
  { name: 'a non-semver newest seen is not a floor, but seen tags stay seen', tags: ['v1.0.0', 'v1.1.0'], seen: seen(['v1.0.0'], 'abc'), next: 'v1.1.0', reason: /abc is not semver/ },
  { name: 'an empty source has nothing to offer', tags: [], next: null, reason: /no tag matches/ },
];

t.test('tag tracks', async (t) => {
  for (const c of tagCases) {
    const track = c.track ?? production;
    const got = detectNext(track, { branchHead: sha('main'), tags: tags(...c.tags) }, c.seen ?? seen());
    t.test(c.name, async (t) => {
      t.equal(got.next?.version ?? null, c.next, 'next');
      if (got.next) t.same(got.next, { track: track.name, version: c.next, ref: c.next, commit: sha(c.next!) });
      t.same(got.skipped.map((s) => s.version), c.skipped ?? [], 'skipped');
      t.match(got.reason, c.reason, 'reason');
    });
  }
});

t.test('branch tracks', async (t) => {
  const head = sha('head');
  t.test('a new head of main is the next version, named by its SHA', async (t) => {
    const got = detectNext(testnet, { branchHead: head, tags: tags('v9.0.0') }, seen([sha('old')]));
    t.same(got.next, { track: 'testnet', version: head, ref: 'main', commit: head });
    t.same(got.skipped, []);
    t.match(got.reason, /main moved to/);
  });
  t.test('a head already seen is not offered again', async (t) => {
    const got = detectNext(testnet, { branchHead: head, tags: [] }, seen([head]));
    t.equal(got.next, null);
    t.match(got.reason, /already seen/);
  });
  t.test('a missing branch offers nothing and says so', async (t) => {
    const got = detectNext(testnet, { branchHead: null, tags: [] }, seen());
    t.equal(got.next, null);
    t.match(got.reason, /branch main does not exist/);
  });
});

t.test('compareVersions orders tag versions by semver and refuses to order the rest', async (t) => {
  const table: Array<[TrackSpec, string, string, -1 | 0 | 1 | null]> = [
    [production, 'v1.9.0', 'v1.10.0', -1],
    [production, 'v1.10.0', 'v1.9.0', 1],
    [production, 'v1.0.0', '1.0.0', 0],
    [production, 'v1.0.0-rc.1', 'v1.0.0', -1],
    [production, 'v1.0.0', 'latest', null],
    [testnet, sha('a'), sha('b'), null],
  ];
  for (const [track, a, b, want] of table) t.equal(compareVersions(track, a, b), want, `${a} vs ${b} on ${track.name}`);
});

t.test('tagSemver accepts one optional leading v and strict semver only', async (t) => {
  t.equal(tagSemver('v1.2.3'), '1.2.3');
  t.equal(tagSemver('1.2.3-rc.1'), '1.2.3-rc.1');
  for (const bad of ['vv1.2.3', '=1.2.3', 'v1.2', ' v1.2.3', 'V1.2.3']) t.equal(tagSemver(bad), null, bad);
});

interface OrderCase {
  name: string;
  track?: TrackSpec;
  version: string;
  released: string[];
  ok: boolean;
  newest: string | null;
  reason: RegExp;
}

const orderCases: OrderCase[] = [
  { name: 'the first release of a track goes ahead', version: 'v1.0.0', released: [], ok: true, newest: null, reason: /nothing released on production yet/ },
  { name: 'a newer version is a release', version: 'v10.1.0', released: ['v2.0.0', 'v10.0.0'], ok: true, newest: 'v10.0.0', reason: /v10\.1\.0 is newer than v10\.0\.0/ },
  {
    name: 'v2.0.0 after v10.0.0 is a downgrade (semver, not string order)',
    version: 'v2.0.0', released: ['v1.0.0', 'v10.0.0'], ok: false, newest: 'v10.0.0',
    reason: /^v2\.0\.0 is older than v10\.0\.0, the newest version released on production;.*roll back instead: `upshift pipeline rollback RUN`.*rollback manifest/,
  },
  { name: 'a patch below the newest minor is a downgrade', version: 'v1.9.9', released: ['v1.10.0'], ok: false, newest: 'v1.10.0', reason: /older than v1\.10\.0/ },
  { name: 'the same version again (a retry) is not older', version: 'v10.0.0', released: ['v10.0.0'], ok: true, newest: 'v10.0.0', reason: /the same version as v10\.0\.0/ },
  { name: 'the same semver under another tag name is not older', version: '10.0.0', released: ['v10.0.0'], ok: true, newest: 'v10.0.0', reason: /same version/ },
  { name: 'a release candidate after its release is a downgrade', track: { name: 'staging', kind: 'tags', pattern: 'v*', includePrerelease: true }, version: 'v2.0.0-rc.2', released: ['v2.0.0'], ok: false, newest: 'v2.0.0', reason: /older than v2\.0\.0, the newest version released on staging/ },
  { name: 'the release after its candidate is an upgrade', version: 'v2.0.0', released: ['v2.0.0-rc.1'], ok: true, newest: 'v2.0.0-rc.1', reason: /newer than/ },
  { name: 'versions that are not semver are left out of the order', version: 'v2.0.0', released: ['f00d', 'v1.0.0', 'release-9'], ok: true, newest: 'v1.0.0', reason: /newer than v1\.0\.0/ },
  { name: 'a branch track follows commits, which have no order', track: { name: 'testnet', kind: 'branch', branch: 'main' }, version: 'a'.repeat(40), released: ['b'.repeat(40)], ok: true, newest: null, reason: /follows a branch/ },
];

t.test('a release never moves a tag track backwards', async (t) => {
  for (const c of orderCases) {
    const got = checkReleaseOrder(c.track ?? production, c.version, c.released);
    t.equal(got.ok, c.ok, `${c.name}: ok`);
    t.equal(got.newest, c.newest, `${c.name}: newest`);
    t.match(got.reason, c.reason, `${c.name}: reason`);
  }
});

t.test('the newest version of a tag track is by semver, and one that is not semver never hides a release', async (t) => {
  const cases: Array<[string[], string | null]> = [
    [[], null],
    [['v1.9.0', 'v1.10.0', 'v1.2.0'], 'v1.10.0'],
    [['f00dfeed', 'v1.0.0', 'v10.0.0'], 'v10.0.0'],
    [['main', 'beef'], null],
    [['v2.0.0-rc.1', 'v2.0.0'], 'v2.0.0'],
  ];
  for (const [versions, newest] of cases) t.equal(newestVersion(production, versions), newest, JSON.stringify(versions));
});
