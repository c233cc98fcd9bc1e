// pickRelease: which release of a feed an OTA check takes, as a table.
import t from 'tap';
import { pickRelease, seqOfTag, tagFor, type FeedRelease } from '../../src/core/decisions/ota-release.js';

const rel = (tag: string, draft = false): FeedRelease => ({ tag_name: tag, draft, assets: [] });
const at = (floorSeq: number | null, runningVersion: string | null = null) => ({ track: 'testnet', floorSeq, runningVersion });

const CASES: Array<[string, FeedRelease[], ReturnType<typeof at>, string | null]> = [
  ['the newest by seq, whatever the feed order', [rel('testnet-3'), rel('testnet-10'), rel('testnet-7')], at(1), 'testnet-10'],
  ['nothing above the floor is up to date', [rel('testnet-3'), rel('testnet-2')], at(3), null],
  ['a node with no floor takes the newest', [rel('testnet-1'), rel('testnet-2')], at(null), 'testnet-2'],
  ['drafts are never taken', [rel('testnet-5', true), rel('testnet-4')], at(1), 'testnet-4'],
  ["another track's releases are not this one's", [rel('production-9'), rel('testnet-2')], at(1), 'testnet-2'],
  ['tags that only look alike are ignored', [rel('testnet-02'), rel('testnet-x'), rel('testnetwork-9'), rel('testnet-3')], at(1), 'testnet-3'],
  ['semver tags: the newest above what runs', [rel('v1.2.0'), rel('v1.10.0'), rel('v1.9.3')], at(4, 'v1.2.0'), 'v1.10.0'],
  ['semver tags: nothing newer than what runs', [rel('v1.2.0'), rel('v1.1.0')], at(4, 'v1.2.0'), null],
  ['semver tags on a fresh node', [rel('v0.9.0'), rel('v1.0.0')], at(null), 'v1.0.0'],
  ['an empty feed', [], at(1), null],
  ['a feed of nothing usable', [rel('latest'), rel('nightly')], at(1), null],
];

for (const [name, releases, position, want] of CASES) {
  t.test(name, async (t) => {
    const pick = pickRelease(releases, position);
    if (want === null) t.equal(pick.kind, 'up-to-date', pick.reason);
    else t.equal(pick.kind === 'release' ? pick.release.tag_name : null, want, pick.reason);
  });
}

t.test('tags round-trip', async (t) => {
  t.equal(seqOfTag(tagFor({ track: 'testnet', seq: 42, version: 'abc' }, 'seq'), 'testnet'), 42);
  t.equal(tagFor({ track: 'production', seq: 3, version: 'v1.2.3' }, 'semver'), 'v1.2.3');
  t.equal(seqOfTag('testnet-99999999999999999', 'testnet'), null, 'past a safe integer');
});
