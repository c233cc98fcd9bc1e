// Deployment policy (issue 12, slice 1): defaults, overrides, coded errors, the config
// section, and the v2 manifest that carries what nodes enforce (v1 still accepted).
import t from 'tap';
import { validateConfig } from '../../src/core/config.js';
import {
  canarySize, countOf, parseAmount, POLICY_DEFAULTS, resolvePolicy, waveSize,
} from '../../src/core/deploy-policy.js';
import { isUpshiftError } from '../../src/core/errors.js';
import { policyFor } from '../../src/stages/deployment-plan.js';
import { decodeManifest, encodeManifest, type ManifestPayload } from '../../src/core/manifest.js';

const base = (): any => ({
  fleet: 'demo',
  node: { id: 'authority' },
  trust: { keys: [{ public: 'a'.repeat(64) }] },
  authority: { source: 'repo', signing_keys: ['k'], build: { command: 'make' }, test: { command: 'make test' } },
});

t.test("SPEC's defaults, then the legacy deploy.* values, then the key's entry, then the flags", async (t) => {
  t.same(resolvePolicy(undefined), POLICY_DEFAULTS);
  t.same(POLICY_DEFAULTS, {
    strategy: 'rolling', max_parallel: 1, canary: 0, min_healthy: 10_000, healthy_deadline: 300_000, progress_deadline: 600_000,
    health_check: 'checks', auto_promote: false, auto_revert: false, stagger: 0,
  });
  const p = resolvePolicy({ max_parallel: '25%', min_healthy: 2000 }, { auto_revert: true, progress_deadline: '20m' }, { progress_deadline: 60_000, auto_revert: false });
  t.match(p, { max_parallel: '25%', min_healthy: 2000, progress_deadline: 1_200_000, auto_revert: true, strategy: 'rolling' });
  const legacy = resolvePolicy(undefined, {}, { progress_deadline: 60_000 });
  t.equal(legacy.progress_deadline, 60_000, 'authority.deploy.progress_deadline still counts');
  t.equal(legacy.healthy_deadline, 60_000, 'an unset healthy_deadline fits inside it');
  t.throws(() => resolvePolicy({ healthy_deadline: 120_000, progress_deadline: 60_000 }), { code: 'E_DEPLOY_POLICY', message: /longer than progress_deadline/ });
  t.match(resolvePolicy(undefined, { strategy: 'canary', canary: '10%', auto_promote: true }), { strategy: 'canary', canary: '10%', auto_promote: true });
});

t.test('amounts: counts and percentages, rounded up, checked against the fleet', async (t) => {
  t.equal(parseAmount('3', 'f'), 3);
  t.equal(parseAmount('25%', 'f'), '25%');
  t.equal(countOf('25%', 8), 2);
  t.equal(countOf('10%', 8), 1, 'at least one');
  t.equal(countOf('30%', 8), 3, 'rounded up');
  t.equal(waveSize(resolvePolicy(undefined, { max_parallel: 2 }), 8), 2);
  t.equal(waveSize(resolvePolicy(undefined, { max_parallel: '100%' }), 8), 8);
  t.equal(waveSize(resolvePolicy(undefined, { max_parallel: 3 }), 0), 1, 'no live node yet: nothing to compare with');
  t.equal(canarySize(resolvePolicy(undefined, { strategy: 'canary' }), 8), 1, 'a canary deploy has at least one canary');
  t.equal(canarySize(resolvePolicy(undefined), 8), 0);
});

t.test('bad policy input: a coded error naming what is wrong', async (t) => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['unknown strategy', () => resolvePolicy(undefined, { strategy: 'yolo' }), /unknown strategy "yolo"/],
    ['max_parallel 0', () => resolvePolicy(undefined, { max_parallel: '0' }), /at least 1/],
    ['max_parallel 0%', () => resolvePolicy(undefined, { max_parallel: '0%' }), /at least 1/],
    ['max_parallel not a number', () => resolvePolicy(undefined, { max_parallel: 'two' }), /max_parallel: expected a node count/],
    ['max_parallel 150%', () => resolvePolicy(undefined, { max_parallel: '150%' }), /max_parallel/],
    ['max_parallel above the fleet', () => waveSize(resolvePolicy(undefined, { max_parallel: 9 }), 8), /above the fleet size: 8 live/],
    ['canary with rolling', () => resolvePolicy(undefined, { canary: 2 }), /--canary flag \(2\) needs strategy canary/],
    ['auto-promote with rolling', () => resolvePolicy(undefined, { auto_promote: true }), /--auto-promote needs strategy canary/],
    ['a bad duration', () => resolvePolicy(undefined, { min_healthy: 'soon' }), /min_healthy: expected a duration/],
    ['min_healthy longer than healthy_deadline', () => resolvePolicy(undefined, { min_healthy: '10m' }), /no node could pass/],
  ];
  for (const [what, fn, message] of cases) {
    try {
      fn();
      t.fail(`${what}: accepted`);
    } catch (err) {
      t.ok(isUpshiftError(err, 'E_DEPLOY_POLICY'), `${what}: E_DEPLOY_POLICY`);
      t.match((err as Error).message, message, what);
    }
  }
});

t.test('authority.deployments in upshift.yaml: keys per track, every problem reported', async (t) => {
  const ok = base();
  ok.authority.deployments = { testnet: { max_parallel: '50%', min_healthy: '2s' }, prod_slow: { track: 'production', strategy: 'canary', canary: 1 } };
  const cfg = validateConfig(ok);
  t.match(cfg.authority?.deployments.testnet, { max_parallel: '50%', min_healthy: 2000 });
  t.equal(validateConfig(base()).authority?.deployments && Object.keys(validateConfig(base()).authority!.deployments).length, 0, 'absent: every track uses the defaults');
  const bad = base();
  bad.authority.deployments = { testnet: { strategy: 'yolo' } };
  t.throws(() => validateConfig(bad), { code: 'E_CONFIG', message: /authority\.deployments\.testnet\.strategy: expected one of rolling, canary, blue_green/ });
  bad.authority.deployments = { nope: { track: 'testnet', max_parallel: 0 }, other: { track: 'staging' } };
  try {
    validateConfig(bad);
    t.fail('accepted');
  } catch (err) {
    t.ok(isUpshiftError(err, 'E_CONFIG'));
    const text = (err as Error).message;
    t.match(text, /authority\.deployments\.nope: max_parallel must be at least 1/);
    t.match(text, /authority\.deployments\.other\.track: expected one of the authority's tracks/);
  }
});

t.test('strategy blue_green is accepted for a deployment key and on the CLI (nodes switch by slots)', async (t) => {
  const cfg = base();
  cfg.authority.deployments = { testnet: { strategy: 'blue_green', max_parallel: 2 } };
  const a = validateConfig(cfg).authority!;
  t.match(policyFor(a, 'testnet').policy, { strategy: 'blue_green', max_parallel: 2 });
  t.match(policyFor(validateConfig(base()).authority!, 'production', { strategy: 'blue_green' }), { track: 'production', policy: { strategy: 'blue_green' } });
  t.throws(() => resolvePolicy(undefined, { strategy: 'blue_green', canary: 1 }), { code: 'E_DEPLOY_POLICY', message: /needs strategy canary/ });
});

const v1: ManifestPayload = {
  schema: 'upshift.manifest/v1', fleet: 'edge', track: 'testnet', seq: 3, version: 'v3', commit: 'a'.repeat(40), code_hash: 'b'.repeat(64),
  created_at: '2026-01-01T00:00:00.000Z', expires_at: '2026-01-02T00:00:00.000Z', kind: 'release', targets: ['n1', 'n2'],
  evidence: { run_id: 'r', test: null, benchmark: null, notes: [] },
};
const rollout = {
  key: 'testnet', deployment: 'd-1', number: 2, strategy: 'rolling' as const, phase: 'wave' as const, wave: 1, canaries: [],
  healthy_deadline: 60_000, min_healthy: 5_000, urgent: false,
};

t.test('manifest v2 carries the rollout; v1 is still accepted; neither may pretend to be the other', async (t) => {
  t.same(decodeManifest(encodeManifest(v1)), v1, 'v1 round-trips');
  const v2 = { ...v1, schema: 'upshift.manifest/v2' as const, rollout };
  t.same(decodeManifest(encodeManifest(v2)).rollout, rollout, 'v2 round-trips with its rollout');
  t.throws(() => encodeManifest({ ...v1, rollout }), { code: 'E_MANIFEST_SCHEMA' }, 'a v1 manifest with a rollout is refused');
  t.throws(() => encodeManifest({ ...v1, schema: 'upshift.manifest/v2' }), { code: 'E_MANIFEST_SCHEMA' }, 'a v2 manifest without one is refused');
  t.throws(() => encodeManifest({ ...v2, rollout: { ...rollout, phase: 'sideways' as 'wave' } }), { code: 'E_MANIFEST_SCHEMA' });
  t.throws(() => encodeManifest({ ...v1, schema: 'upshift.manifest/v3' as 'upshift.manifest/v2' }), { code: 'E_MANIFEST_SCHEMA' }, 'an unknown schema is refused');
});
