// The apply engine on one node, refusing and failing: refused manifests, a commit id that is not
// a SHA, git's hooks and submodules, a failing install hook, a failing or hanging restart, a
// first release that fails. Two files (apply.test.ts: the good path, rollbacks, boot) so they run in two jobs.
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { canonicalize } from '../../../src/core/canonical-json.js';
import { PAYLOAD_TYPES } from '../../../src/core/manifest.js';
import { serializeEnvelope, signEnvelope } from '../../../src/trust/envelope.js';
import { signerFromSeed } from '../../../src/trust/keyfile.js';
import { applyBed } from './apply-child.js';

const refusals = async (bed: Awaited<ReturnType<typeof applyBed>>) => (await bed.store().events({ limit: 1000 })).filter((e) => e.kind === 'apply.refused');
const appliesCount = (bed: Awaited<ReturnType<typeof applyBed>>) => bed.tables().list().length;

t.test('refused manifests write nothing but an event', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 5));
  const engine = bed.engine();
  const yearAhead = new Date(Date.now() + 365 * 86_400_000).toISOString();
  const yearAheadEnd = new Date(Date.now() + 366 * 86_400_000).toISOString();
  const cases: Array<[string, string, string]> = [
    ['a lower seq', bed.manifest(v1, 4), 'E_ROLLBACK'],
    ['an expired manifest', bed.manifest(v1, 6, { created_at: '2020-01-01T00:00:00.000Z', expires_at: '2020-01-02T00:00:00.000Z' }), 'E_EXPIRED'],
    ['a manifest valid until 9999', bed.manifest(v1, 6, { expires_at: '9999-12-31T23:59:59.999Z' }), 'E_MANIFEST_TTL'],
    ['a manifest created a year ahead', bed.manifest(v1, 6, { created_at: yearAhead, expires_at: yearAheadEnd }), 'E_NOT_YET_VALID'],
    ['another fleet', bed.manifest(v1, 6, { fleet: 'other' }), 'E_WRONG_FLEET'],
    ['a track this node does not follow', bed.manifest(v1, 6, { track: 'production' }), 'E_WRONG_TRACK'],
    ['a canary list without this node', bed.manifest(v1, 6, { targets: ['node-b'] }), 'E_NOT_TARGETED'],
    ['a version that is not a safe path segment', bed.manifest({ ...v1, version: '../../etc' }, 6), 'E_BAD_VERSION'],
  ];
  for (const [what, env, code] of cases) {
    const before = appliesCount(bed);
    const events = (await refusals(bed)).length;
    await t.rejects(engine.applyManifest(env), { code }, what);
    t.equal(appliesCount(bed), before, `${what}: no apply journaled`);
    t.equal((await refusals(bed)).length, events + 1, `${what}: one refusal event`);
  }
  // an unknown signer never gets past the door: the engine only takes verified manifests
  const forged = serializeEnvelope(signEnvelope(PAYLOAD_TYPES.manifest, new TextEncoder().encode('{}'), [signerFromSeed(new Uint8Array(32).fill(9))]));
  const before = appliesCount(bed);
  await t.rejects(engine.applyManifest(forged), { code: 'E_UNKNOWN_KEY' }, 'an unknown signer');
  t.equal(appliesCount(bed), before, 'an unknown signer: no apply journaled');
  t.equal(bed.releases().length, 1, 'nothing fetched');
  t.equal(bed.restarts().length, 1, 'nothing restarted');
  t.equal(await bed.store().floors.get('testnet'), 5);
});

t.test('a commit id that is not a full hex SHA never reaches git', async (t) => {
  const { fetchRelease, releaseName } = await import('../../../src/node/apply/release-dir.js');
  const bed = await applyBed(t);
  for (const commit of ['main', 'abc1234', 'A'.repeat(40), `--upload-pack=touch /tmp/x${'0'.repeat(26)}`]) {
    await t.rejects(fetchRelease({ remote: bed.repo.dir, commit, dir: join(bed.appDir, 'x') }), { code: 'E_BAD_COMMIT' }, commit);
    t.throws(() => releaseName('v1', commit), { code: 'E_BAD_COMMIT' });
  }
  t.notOk(existsSync(join(bed.appDir, 'x')), 'no directory was created');
  // Signed manifests cannot even carry one: the schema refuses it before the engine sees it.
  const payload = JSON.parse(Buffer.from(JSON.parse(bed.manifest(await bed.release('v1'), 1)).payload, 'base64').toString('utf8'));
  const signed = signEnvelope(PAYLOAD_TYPES.manifest, new TextEncoder().encode(canonicalize({ ...payload, commit: 'main' })), [signerFromSeed(new Uint8Array(32).fill(7))]);
  await t.rejects(bed.engine().applyManifest(serializeEnvelope(signed)), { code: 'E_MANIFEST_SCHEMA' });
});

t.test('no hook of any git config runs and no submodule is fetched', async (t) => {
  const bed = await applyBed(t);
  const template = join(bed.appDir, '..', 'evil-template');
  const hooks = join(template, 'hooks');
  const marker = join(bed.appDir, '..', 'hook-ran');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(hooks, { recursive: true });
  for (const h of ['post-checkout', 'post-merge', 'reference-transaction']) {
    writeFileSync(join(hooks, h), `#!/bin/sh\necho ${h} >> ${marker}\n`, { mode: 0o755 });
  }
  // The operator's global git config names a hooks dir: exactly what -c core.hooksPath must override.
  const globalConfig = join(bed.appDir, '..', 'gitconfig');
  writeFileSync(globalConfig, `[core]\n\thooksPath = ${hooks}\n[init]\n\ttemplateDir = ${template}\n`);
  const saved = process.env.GIT_CONFIG_GLOBAL;
  process.env.GIT_CONFIG_GLOBAL = globalConfig;
  t.teardown(() => (saved === undefined ? delete process.env.GIT_CONFIG_GLOBAL : (process.env.GIT_CONFIG_GLOBAL = saved)));
  writeFileSync(join(bed.repo.dir, '.git', 'hooks', 'post-checkout'), `#!/bin/sh\necho repo-hook >> ${marker}\n`, { mode: 0o755 });

  const sub = await import('../../helpers/gitdir.js').then((m) => m.gitRepo(t));
  const subCommit = sub.commit('sub', { 'secret.txt': 'from the submodule' });
  bed.repo.git('-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', sub.dir, 'vendor');
  const v1 = await bed.release('v1');
  t.equal(bed.repo.git('ls-tree', 'HEAD', 'vendor').split(/\s+/)[2], subCommit, 'the release pins a submodule');

  // Sanity: with this config a plain checkout does run the hook.
  const { execFileSync } = await import('node:child_process');
  const probe = join(bed.appDir, '..', 'probe');
  execFileSync('git', ['clone', '-q', '--no-checkout', bed.repo.dir, probe], { env: process.env });
  execFileSync('git', ['checkout', '-q', v1.commit], { cwd: probe, env: process.env });
  t.ok(existsSync(marker), 'the hook fires for plain git');
  const { rmSync } = await import('node:fs');
  rmSync(marker);

  const out = await bed.engine().applyManifest(bed.manifest(v1, 1));
  t.equal(out.apply?.state, 'confirmed');
  t.notOk(existsSync(marker), 'no hook ran during fetch or checkout');
  t.same(readdirSync(join(bed.appDir, 'current', 'vendor')), [], 'the submodule path is empty: nothing fetched into it');
  t.notOk(existsSync(join(bed.appDir, 'current', '.git', 'modules')), 'no submodule repository was cloned');
  t.notOk(existsSync(join(bed.appDir, 'current', '.git', 'hooks')), 'no hook template was copied in');
});

t.test('a failing install hook removes the release dir and switches nothing', async (t) => {
  const bed = await applyBed(t);
  bed.app.install = 'test "$(cat app.txt)" != v2 || { echo "npm ERR! v2 will not install" >&2; exit 7; }';
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const v2 = await bed.release('v2');
  await t.rejects(bed.engine().applyManifest(bed.manifest(v2, 2)), { code: 'E_COMMAND_FAILED', message: /install of v2-.* exited with code 7: npm ERR! v2 will not install/ });
  t.equal(bed.current(), `releases/v1-${v1.commit.slice(0, 12)}`);
  t.same(bed.releases(), [`v1-${v1.commit.slice(0, 12)}`]);
  t.equal(bed.restarts().length, 1, 'no restart');
  t.match(bed.tables().badVersions(), [{ version: 'v2' }], 'a release that cannot install is not retried automatically');
});

t.test('a failing restart is rolled back like a failing health check', async (t) => {
  const bed = await applyBed(t);
  bed.app.restart = `echo "$UPSHIFT_REASON $UPSHIFT_RELEASE" >> ${join(bed.appDir, '..', 'restarts.log')}; test "$(cat current/app.txt)" != v2`;
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const v2 = await bed.release('v2');
  await t.rejects(bed.engine().applyManifest(bed.manifest(v2, 2)), { code: 'E_COMMAND_FAILED', details: { state: 'rolled_back' } });
  const v1Name = `v1-${v1.commit.slice(0, 12)}`;
  t.equal(bed.current(), `releases/${v1Name}`);
  t.same(bed.restarts(), [`apply ${v1Name}`, `apply v2-${v2.commit.slice(0, 12)}`, `rollback ${v1Name}`]);
  t.match(bed.tables().badVersions(), [{ version: 'v2' }]);
});

t.test('a restart that never returns fails at app.hook_timeout, naming the setting, and is rolled back', async (t) => {
  const bed = await applyBed(t, { app: { hook_timeout: '1s' } });
  // the mistake this catches: running the app in the foreground from the restart command
  bed.app.restart = `echo "$UPSHIFT_REASON $UPSHIFT_RELEASE" >> ${join(bed.appDir, '..', 'restarts.log')}; test "$(cat current/app.txt)" != v2 || sleep 30`;
  const v1 = await bed.release('v1');
  await bed.engine().applyManifest(bed.manifest(v1, 1));
  const v2 = await bed.release('v2');
  await t.rejects(bed.engine().applyManifest(bed.manifest(v2, 2)), {
    code: 'E_TIMEOUT', details: { state: 'rolled_back' }, message: /restart of v2-\S+ did not finish within app\.hook_timeout \(1\.0s\); restart must return once/,
  });
  t.equal(bed.current(), `releases/v1-${v1.commit.slice(0, 12)}`);
});

t.test('a first release that fails has nothing to roll back to: failed, current stays valid', async (t) => {
  const bed = await applyBed(t);
  const v1 = await bed.release('v1', { healthy: false });
  await t.rejects(bed.engine().applyManifest(bed.manifest(v1, 1)), { code: 'E_HEALTH', details: { state: 'failed' }, message: /no previous release/ });
  t.ok(bed.currentValid(), 'current still names an existing release');
  t.equal(await bed.store().floors.get('testnet'), null);
  t.match(bed.tables().badVersions(), [{ version: 'v1' }]);
});
