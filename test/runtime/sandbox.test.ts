// The trust boundary on the authority, end to end: the application's own build is hostile
// and goes for the release key and the state database. It reaches neither, the run
// completes, and what it signs verifies with the key it could not read.
import t from 'tap';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sampleAppFiles } from '../../scripts/demo/sample-app.js';
import { verifyManifest } from '../../src/trust/verify-manifest.js';
import { testAuthority } from '../helpers/authority.js';

const asRoot = process.getuid?.() === 0;

// Everything it tries goes into loot.txt in its own work tree, which the test reads afterwards.
const STEAL = `#!/bin/sh
out=loot.txt
: > "$out"
echo "uid $(id -u) groups $(id -G)" >> "$out"
try() {
  if cat -- "$1" > /dev/null 2>&1; then echo "READ $1" >> "$out"; cat -- "$1" >> "$out"; else echo "denied $1" >> "$out"; fi
}
try ../../keys/release.key
try ../../state/upshift.db
d=$(pwd)
while [ "$d" != / ]; do
  d=$(dirname "$d")
  for f in "$d"/keys/release.key "$d"/keys/node.key "$d"/state/upshift.db "$d"/state/*; do try "$f"; done
done
for f in "$@"; do try "$f"; done
[ -n "$KEY_PATH" ] && try "$KEY_PATH"
env | sort > env.txt
exit 0
`;

t.test('a build that goes for the release key and the state database reads neither, and the run completes', { skip: asRoot ? false : 'switching users needs root' }, async (t) => {
  const saved = { ...process.env };
  t.teardown(() => {
    for (const k of ['KEY_PATH', 'SECRET_TOKEN', 'PASSED_ON']) delete process.env[k];
    Object.assign(process.env, saved);
  });
  const a = await testAuthority(t, { authority: { sandbox: { user: 'nobody', env: ['PASSED_ON'] } } });
  const db = join(a.ws.stateDir, 'upshift.db');
  // The daemon's environment holds the key's path and a secret; neither may reach the build.
  process.env.KEY_PATH = a.ws.keyPath;
  process.env.SECRET_TOKEN = 'do-not-leak-3f1c';
  process.env.PASSED_ON = 'allowed-by-config';
  a.repo.commit('a hostile build', { ...sampleAppFiles({ version: 'v1.0.1', latencyMs: 10 }), 'steal.sh': STEAL });
  a.service.deps.authority.build.command = `sh steal.sh ${a.ws.keyPath} ${db} ${db}-wal && sh build.sh`;

  const { run } = await a.service.startOrFind(await a.service.resolve('main'));
  const done = await a.service.orchestrator.drive(run.id);
  t.equal(done.status, 'completed', done.reason ?? '');

  const tree = join(a.service.deps.workRoot, run.id);
  const loot = readFileSync(join(tree, 'loot.txt'), 'utf8');
  t.match(loot, /^uid 65534 groups 65534$/m, 'the build ran as nobody, without the daemon\'s groups');
  t.notMatch(loot, /^READ /m, 'nothing it tried was readable');
  for (const p of ['../../keys/release.key', '../../state/upshift.db', a.ws.keyPath, db, `${db}-wal`, join(a.ws.dir, 'keys', 'release.key')]) {
    t.match(loot, new RegExp(`^denied ${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), `tried ${p} and was denied`);
  }
  const { seed } = JSON.parse(readFileSync(a.ws.keyPath, 'utf8')) as { seed: string };
  t.notOk(loot.includes(seed), 'the key\'s seed is not in the loot');

  const env = readFileSync(join(tree, 'env.txt'), 'utf8');
  t.notMatch(env, /do-not-leak|KEY_PATH|SECRET_TOKEN/, 'the daemon\'s environment was scrubbed');
  t.match(env, /^PASSED_ON=allowed-by-config$/m, 'a variable named in sandbox.env is passed on');
  t.match(env, new RegExp(`^UPSHIFT_RUN_ID=${run.id}$`, 'm'), 'the run marker the reaper looks for is there');
  t.match(env, new RegExp(`^HOME=${join(a.service.deps.workRoot, '.home')}$`, 'm'));

  t.equal(statSync(tree).uid, 65534, 'the work tree is the build user\'s');
  t.equal(statSync(a.service.deps.workRoot).uid, 0, 'the work dir holding it is the daemon\'s');
  t.equal(statSync(a.ws.stateDir).mode & 0o777, 0o700, 'the state dir is private to the daemon');
  const m = await a.service.deps.store.manifests.forRun(run.id, 'release');
  t.equal(verifyManifest(m?.envelope ?? '', a.service.deps.keyset).payload.commit, run.commit, 'the release is signed');
});
