// The E_SEQ_REGRESSION repair as an operator does it, with the built CLI only: the store lost
// a published seq (its node still holds it), so `pipeline run` of the next version stops at
// SIGN and the run waits; `manifest export` writes the held envelope, `manifest import`
// stores it, and `pipeline run` again resumes the run, which signs one seq above it.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeManifest } from '../../../src/core/manifest.js';
import { HELD_KEY_PREFIX, storedHeld } from '../../../src/node/agent/held-store.js';
import { openStore } from '../../../src/runtime/deps.js';
import { parseEnvelope, serializeEnvelope } from '../../../src/trust/envelope.js';
import { loadSigners } from '../../../src/trust/keyfile.js';
import { signManifest, verifyManifest } from '../../../src/trust/verify-manifest.js';
import { testAuthority } from '../../helpers/authority.js';
import { diag, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

t.test('blocked by a lost published seq, exported, imported, and the run signs one seq above', async (t) => {
  const a = await testAuthority(t);
  a.close(); // the CLI opens the store itself
  const cli = (...args: string[]) => runCli(['--config', a.ws.configPath, ...args]);
  const first = await cli('pipeline', 'run', '--ref', 'main', '--json');
  t.equal(first.code, 0, diag(first));

  // seq 2 was published and then lost by the store; the authority's node still holds it
  const store = openStore(a.ws.stateDir);
  const held = await storedHeld(store, 'testnet');
  const one = decodeManifest(new Uint8Array(Buffer.from(parseEnvelope(held[0] as string).payload, 'base64')));
  t.equal(one.seq, 1);
  const lost = serializeEnvelope(signManifest({ ...one, seq: 2, version: 'v-lost' }, await loadSigners([a.ws.keyPath])));
  await store.kv.set(HELD_KEY_PREFIX + 'testnet', JSON.stringify([lost, ...held]));
  store.close();

  a.commitVersion({ version: 'v1.1.0', latencyMs: 10 });
  const blocked = await cli('pipeline', 'run', '--ref', 'main', '--json');
  t.not(blocked.code, 0, diag(blocked));
  t.match(blocked.stdout + blocked.stderr, /E_SEQ_REGRESSION/);
  const check = openStore(a.ws.stateDir);
  const run = (await check.listRuns()).find((r) => r.version === a.repo.head());
  t.match(run, { status: 'running', stage: 'signing' }, 'the run waits at SIGN, not failed');
  t.same((await check.manifests.list('testnet')).map((m) => m.seq), [1], 'no seq was reserved');
  check.close();

  const file = join(tempDir(t, 'upshift-repair-'), 'testnet-2.json');
  const exported = await cli('manifest', 'export', 'testnet#2', '--out', file);
  t.equal(exported.code, 0, diag(exported));
  t.equal(readFileSync(file, 'utf8').trim(), lost, 'the envelope the node holds');
  const imported = await cli('manifest', 'import', file, '--json');
  t.equal(imported.code, 0, diag(imported));
  t.match(imported.json(), { ok: true, track: 'testnet', seq: 2, outcome: 'stored', signed_by_run: one.evidence.run_id });

  const resumed = await cli('pipeline', 'run', '--ref', 'main', '--json');
  t.equal(resumed.code, 0, diag(resumed));
  const after = openStore(a.ws.stateDir);
  t.teardown(() => after.close());
  const m = await after.manifests.forRun(run?.id ?? '', 'release');
  t.equal(m?.seq, 3, 'one above the imported seq');
  t.equal(verifyManifest(m?.envelope ?? '', a.service.deps.keyset).payload.version, a.repo.head());
  t.match((await after.events({ limit: 1000 })).filter((e) => e.kind === 'manifest.imported').map((e) => e.data),
    [{ track: 'testnet', seq: 2, outcome: 'stored' }], 'audited');
});
