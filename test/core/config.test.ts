import t, { type Test } from 'tap';
import { MAX_HELD_TRACKS, validateConfig, type ConfigProblem } from '../../src/core/config.js';
import { isUpshiftError } from '../../src/core/errors.js';
import { LIMITS } from '../../src/gossip/types.js';
import { DEFAULT_MANIFEST_LIMITS } from '../../src/core/decisions/acceptance.js';

const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);

/** The smallest authority config: every optional section left to its default. */
function minimal(): any {
  return {
    fleet: 'demo',
    node: { id: 'authority' },
    trust: { keys: [{ public: KEY_A }] },
    authority: { source: 'repo', signing_keys: ['keys/release.key'], build: { command: 'make' }, test: { command: 'make test' } },
  };
}

/** Everything validateConfig reported, or a failing assertion when it accepted the config. */
function problemsOf(t: Test, raw: unknown): ConfigProblem[] {
  try {
    validateConfig(raw);
  } catch (err) {
    t.ok(isUpshiftError(err, 'E_CONFIG'), 'refused with E_CONFIG');
    return ((err as { details?: { problems?: ConfigProblem[] } }).details?.problems ?? []);
  }
  t.fail('the config was accepted');
  return [];
}

t.test('a config with five mistakes reports all five at once, each at its dot-path with what was expected', async (t) => {
  const raw = minimal();
  raw.fleet = 'My Fleet';
  raw.trust.keys[0].public = 'not-hex';
  raw.authority.build.timeout = '5 minutes';
  raw.authority.test.min_pass_rate = 1.5;
  raw.authority.canary = { fraction: 0 };
  let thrown: unknown;
  try {
    validateConfig(raw, 'fleet.yaml');
  } catch (err) {
    thrown = err;
  }
  t.ok(isUpshiftError(thrown, 'E_CONFIG'));
  const err = thrown as Error & { details: { problems: ConfigProblem[] }; exitCode: number };
  t.equal(err.exitCode, 2, 'a config mistake is a usage error');
  const byPath = Object.fromEntries(err.details.problems.map((p) => [p.path, p.message]));
  t.same(Object.keys(byPath).sort(), ['authority.build.timeout', 'authority.canary.fraction', 'authority.test.min_pass_rate', 'fleet', 'trust.keys.0.public']);
  t.match(byPath, {
    fleet: /expected lowercase letters, digits/,
    'trust.keys.0.public': /expected 64 lowercase hex characters/,
    'authority.build.timeout': /expected a duration like 30s, 5m or 1h, got "5 minutes"/,
    'authority.test.min_pass_rate': /expected number to be <=1/,
    'authority.canary.fraction': /expected number to be >0/,
  });
  t.match(err.message, /^fleet\.yaml has 5 problems:\n/);
  for (const path of Object.keys(byPath)) t.match(err.message, `  ${path}: `, `the message lists ${path}`);
});

t.test('an authority that leaves its optional sections out gets the documented defaults', async (t) => {
  const cfg = validateConfig(minimal());
  t.same(cfg.node.tracks, ['testnet']);
  t.equal(cfg.state_dir, 'state');
  t.equal(cfg.trust.threshold, 1);
  t.equal(cfg.log.level, 'info');
  const a = cfg.authority!;
  t.same(a.tracks, { testnet: { branch: 'main' }, production: { tags: 'v*.*.*', include_prerelease: false } });
  t.equal(a.test.min_pass_rate, 0.95);
  t.equal(a.test.format, 'auto');
  t.equal(a.canary.fraction, 0.1);
  t.same(a.canary.labels, ['region']);
  t.equal(a.canary.soak, 30 * 60_000, 'durations arrive as milliseconds');
  t.equal(a.build.timeout, 10 * 60_000);
  t.equal(a.manifest_ttl, 30 * 86_400_000);
  t.same(a.audit, { commands: [], protected_paths: [], timeout: 5 * 60_000 });
  t.same(a.benchmark, { suites: [], tolerance: 0.05, timeout: 10 * 60_000 });
});

t.test('two configs never share default objects, so changing one leaves the next untouched', async (t) => {
  const first = validateConfig(minimal());
  (first.authority!.tracks.testnet as { branch: string }).branch = 'changed';
  first.node.tracks.push('production');
  const second = validateConfig(minimal());
  t.same(second.authority!.tracks.testnet, { branch: 'main' });
  t.same(second.node.tracks, ['testnet']);
});

t.test('durations in config parse, and malformed ones are refused with the expected format', async (t) => {
  for (const [text, ms] of [['30s', 30_000], ['5m', 300_000], ['1h30m', 5_400_000]] as const) {
    const raw = minimal();
    raw.authority.canary = { soak: text };
    t.equal(validateConfig(raw).authority!.canary.soak, ms, text);
  }
  for (const text of ['5 minutes', '-1s', '']) {
    const raw = minimal();
    raw.authority.canary = { soak: text };
    t.same(problemsOf(t, raw), [{ path: 'authority.canary.soak', message: `expected a duration like 30s, 5m or 1h, got "${text}"` }], JSON.stringify(text));
  }
  const numeric = minimal();
  numeric.authority.canary = { soak: 30 };
  t.same(problemsOf(t, numeric), [{ path: 'authority.canary.soak', message: 'expected a duration like 30s, 5m or 1h' }], 'a bare number has no unit');
});

t.test('unknown keys are refused at the top level and inside sections', async (t) => {
  const raw = minimal();
  raw.extra = true;
  raw.authority.test.retries = 3;
  const byPath = Object.fromEntries(problemsOf(t, raw).map((p) => [p.path, p.message]));
  t.same(byPath, { '(root)': 'Unrecognized key: "extra"', 'authority.test': 'Unrecognized key: "retries"' });
});

t.test('a signature threshold above the number of distinct trusted keys is refused', async (t) => {
  const raw = minimal();
  raw.trust = { keys: [{ public: KEY_A }, { public: KEY_A, keyid: 'same key twice' }], threshold: 2 };
  t.same(problemsOf(t, raw), [{ path: 'trust.threshold', message: 'expected at most 1 (the number of distinct trusted keys), got 2' }]);
  raw.trust.keys[1].public = KEY_B;
  t.equal(validateConfig(raw).trust.threshold, 2, 'two distinct keys allow a threshold of 2');
});

t.test('manifests may be valid 90 days and created 5 minutes ahead unless trust says otherwise', async (t) => {
  const cfg = validateConfig(minimal());
  t.equal(cfg.trust.max_manifest_ttl, 90 * 86_400_000);
  t.equal(cfg.trust.clock_skew, 5 * 60_000);
  t.same(
    { maxTtl: cfg.trust.max_manifest_ttl, clockSkew: cfg.trust.clock_skew },
    DEFAULT_MANIFEST_LIMITS,
    'the config defaults are the defaults of a keyset loaded without them',
  );
  const raw = minimal();
  raw.trust.max_manifest_ttl = '7d';
  raw.trust.clock_skew = '30s';
  t.same(validateConfig({ ...raw, authority: { ...raw.authority, manifest_ttl: '7d' } }).trust.max_manifest_ttl, 7 * 86_400_000);
});

t.test("an authority whose manifest_ttl exceeds trust.max_manifest_ttl is refused: its own nodes would refuse every manifest", async (t) => {
  const raw = minimal();
  raw.authority.manifest_ttl = '365d';
  t.same(problemsOf(t, raw), [{
    path: 'authority.manifest_ttl',
    message: 'expected at most trust.max_manifest_ttl (90d), got 365d: every node would refuse these manifests',
  }]);
  raw.trust.max_manifest_ttl = '400d';
  t.equal(validateConfig(raw).authority!.manifest_ttl, 365 * 86_400_000, 'a larger maximum admits it');
});

t.test('node labels are bounded as in a certificate: names, lengths, count, no control characters', async (t) => {
  const raw = minimal();
  raw.node.labels = { region: 'eu\u001b[2J', 'bad name': 'x', zone: 'z'.repeat(257) };
  const paths = problemsOf(t, raw).map((p) => p.path).sort();
  t.same(paths, ['node.labels.bad name', 'node.labels.region', 'node.labels.zone']);
  raw.node.labels = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`l${i}`, 'x']));
  t.same(problemsOf(t, raw), [{ path: 'node.labels', message: 'at most 32 labels' }]);
  raw.node.labels = { region: 'eu-west', 'topology.kubernetes.io/zone': 'a' };
  t.same(validateConfig(raw).node.labels, raw.node.labels);
});

t.test('a node following a track the authority does not define is refused', async (t) => {
  const raw = minimal();
  raw.node.tracks = ['testnet', 'staging'];
  t.same(problemsOf(t, raw), [{ path: 'node.tracks.1', message: 'expected one of the authority\'s tracks (testnet, production), got "staging"' }]);
  raw.authority.tracks = { staging: { branch: 'develop' }, testnet: { branch: 'main' } };
  t.same(validateConfig(raw).node.tracks, ['testnet', 'staging']);
});

t.test('an authority whose node runs only testnet still releases production: the combination init writes is valid', async (t) => {
  const cfg = validateConfig(minimal());
  t.same(cfg.node.tracks, ['testnet']);
  t.same(Object.keys(cfg.authority!.tracks), ['testnet', 'production']);
});

t.test('an authority with more tracks than one gossip digest carries is refused at authority.tracks', async (t) => {
  t.equal(MAX_HELD_TRACKS, LIMITS.tracks - 2, 'one digest slot is the revocation list\'s, one the fleet settings\'');
  const raw = minimal();
  raw.authority.tracks = Object.fromEntries(Array.from({ length: MAX_HELD_TRACKS + 1 }, (_, i) => [`t${i}`, { branch: `b${i}` }]));
  raw.node.tracks = ['t0'];
  t.same(problemsOf(t, raw), [{
    path: 'authority.tracks',
    message: `expected at most ${MAX_HELD_TRACKS} tracks (the authority's node gossips a manifest of each), got ${MAX_HELD_TRACKS + 1}`,
  }]);
  delete raw.authority.tracks[`t${MAX_HELD_TRACKS}`];
  t.equal(Object.keys(validateConfig(raw).authority!.tracks).length, MAX_HELD_TRACKS, 'exactly the limit is fine');
  const plain = minimal();
  delete plain.authority;
  plain.node.tracks = Array.from({ length: MAX_HELD_TRACKS + 1 }, (_, i) => `t${i}`);
  t.match(problemsOf(t, plain), [{ path: 'node.tracks', message: /expected at most 30 tracks/ }], 'a plain node too');
});

t.test('an authority with no tracks at all is refused', async (t) => {
  const raw = minimal();
  raw.authority.tracks = {};
  raw.node.tracks = undefined;
  t.match(problemsOf(t, raw), [{ path: 'authority.tracks', message: 'expected at least one track' }]);
});

t.test('a track is either a branch or a tag glob, never both or neither', async (t) => {
  const raw = minimal();
  raw.authority.tracks = { testnet: { branch: 'main', tags: 'v*' }, production: {} };
  const problems = problemsOf(t, raw);
  t.same(problems.map((p) => p.path), ['authority.tracks.testnet', 'authority.tracks.production']);
  for (const p of problems) t.equal(p.message, 'expected { branch: NAME } or { tags: GLOB }');
});

t.test('a plain node needs no authority section, and an empty document names the required keys', async (t) => {
  const node = minimal();
  delete node.authority;
  t.equal(validateConfig(node).authority, undefined);
  t.same(problemsOf(t, null).map((p) => p.path), ['fleet', 'node', 'trust']);
  t.same(problemsOf(t, ['a list']), [{ path: '(root)', message: 'Invalid input: expected object, received array' }]);
});
