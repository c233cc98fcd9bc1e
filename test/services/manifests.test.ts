// Exporting a signed manifest, by run or by TRACK#SEQ, through the service and the built CLI;
// the exported file verifies like any manifest.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findManifest } from '../../src/services/manifests.js';
import { driveRun, runHistory, startRun } from '../../src/services/pipeline.js';
import { nodeStatus } from '../../src/runtime/status.js';
import { testAuthority } from '../helpers/authority.js';
import { diag, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

t.test('a completed run exports its signed manifest, by run and by track#seq, and the file verifies', async (t) => {
  const a = await testAuthority(t);
  const { store } = a.service.deps;
  const { run } = (await startRun(a.service, { ref: 'main' })).evidence;
  t.match((await nodeStatus(a.service.deps.config, store)).pipeline?.unfinished, [{ id: run.id, waiting: { state: 'idle' } }], 'status says what a pending run waits for');
  t.throws(() => findManifest({ store }, run.id), { code: 'E_RUN_NOT_FOUND', message: /no signed manifest/ }, 'nothing signed yet');
  await driveRun(a.service, { runId: run.id, until: 'terminal' });
  const byRun = findManifest({ store }, run.id).evidence;
  t.match(byRun, { track: 'testnet', seq: 1, purpose: 'release', run_id: run.id });
  t.equal(findManifest({ store }, 'testnet#1').evidence.envelope, byRun.envelope);
  t.throws(() => findManifest({ store }, 'testnet#9'), { code: 'E_RUN_NOT_FOUND' });
  t.throws(() => findManifest({ store }, 'testnet#1', 'canary'), { code: 'E_USAGE' });
  t.throws(() => findManifest({ store }, run.id, 'rollback'), { code: 'E_RUN_NOT_FOUND', message: /no signed rollback manifest/ });

  const out = join(tempDir(t, 'upshift-export-'), 'testnet-1.json');
  const cli = (...args: string[]) => runCli(['--config', a.ws.configPath, ...args]);
  const exported = await cli('manifest', 'export', run.id, '--out', out);
  t.equal(exported.code, 0, diag(exported));
  t.equal(readFileSync(out, 'utf8').trim(), byRun.envelope);
  const again = await cli('manifest', 'export', 'testnet#1', '--out', out);
  t.equal(again.code, 2, 'an existing file is never overwritten');
  const verified = await cli('manifest', 'verify', out, '--json');
  t.equal(verified.code, 0, diag(verified));
  t.match(verified.json(), { ok: true });
});

t.test('history lists the versions the poll passed over, newest first, by track', async (t) => {
  const a = await testAuthority(t);
  const { store } = a.service.deps;
  const at = Date.now();
  store.appendEvent({ at, runId: null, stage: null, kind: 'version.skipped', actor: 'scheduler', data: { track: 'production', version: 'v1.1.0', reason: 'only the newest unseen tag runs' } });
  store.appendEvent({ at: at + 1, runId: null, stage: null, kind: 'version.refused', actor: 'scheduler', data: { track: 'production', version: 'v0.9.0', reason: 'older than v1.2.0' } });
  const all = runHistory(store, { limit: 10 }).evidence.passed_over;
  t.same(all.map((p) => [p.kind, p.version]), [['refused', 'v0.9.0'], ['skipped', 'v1.1.0']]);
  t.same(runHistory(store, { track: 'testnet', limit: 10 }).evidence.passed_over, [], 'another track passed over nothing');
});
