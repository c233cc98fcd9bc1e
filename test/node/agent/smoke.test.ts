// The on-node smoke benchmark with a real store and real commands in release dirs: each
// release compared with the last one that did not regress, each verdict kept, and the
// verdict carried by heartbeats into the canary's fifth criterion.
import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createExec } from '../../../src/adapters/exec.js';
import { Store } from '../../../src/adapters/sqlite/store.js';
import { toNodeState } from '../../../src/node/agent/reports.js';
import { SmokeRunner } from '../../../src/node/agent/smoke.js';
import { tempDir } from '../../helpers/tmp.js';

function setup(t: Tap.Test) {
  const appDir = tempDir(t, 'upshift-smoke-');
  const store = Store.open(join(appDir, 'upshift.db'), () => Date.now());
  t.teardown(() => store.close());
  const runs = join(appDir, 'runs.log');
  /** A release whose smoke command reports `latency` ms, or exits 1 when null. */
  const release = (name: string, latency: number | null) => {
    const dir = join(appDir, 'releases', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'smoke.js'), `require('node:fs').appendFileSync(${JSON.stringify(runs)}, '${name}\\n');
${latency === null ? 'process.exit(1);' : `console.log(JSON.stringify({ metrics: { latency_ms: { value: ${latency}, better: 'lower' } } }));`}\n`);
  };
  const smoke = new SmokeRunner({ smoke: { command: 'node smoke.js', tolerance: 0.1, timeout: 30_000 }, appDir, store, exec: createExec() });
  const ran = () => (existsSync(runs) ? readFileSync(runs, 'utf8').split('\n').filter(Boolean) : []);
  return { release, smoke, ran };
}

t.test('each release is compared with the last one that did not regress', async (t) => {
  const { release, smoke, ran } = setup(t);
  release('r1', 10);
  release('r2', 15);
  release('r3', 10.5);
  t.equal(await smoke.verdict('r1'), null, 'no verdict before it ran');
  await smoke.ensure('r1');
  t.match(await smoke.verdict('r1'), { regressed: false, detail: /no baseline/ }, 'the first one is the baseline');
  await smoke.ensure('r2');
  t.match(await smoke.verdict('r2'), { regressed: true, detail: /latency_ms/ }, '+50% latency regressed');
  await smoke.ensure('r3');
  t.match(await smoke.verdict('r3'), { regressed: false, detail: /r1/ }, 'r3 is compared with r1, not with the regressed r2');
  await smoke.ensure('r1');
  t.same(ran(), ['r1', 'r2', 'r3'], 'a release with a verdict is not run again (a switch back reuses it)');
});

t.test('a smoke command that fails counts as a regression', async (t) => {
  const { release, smoke } = setup(t);
  release('r1', null);
  await smoke.ensure('r1');
  t.match(await smoke.verdict('r1'), { regressed: true, detail: /exited with code 1/ });
});

t.test('heartbeats carry the verdict into the node state the canary judges', async (t) => {
  const hb = { node: 'n1', versions: { testnet: 'v2' }, code_hash: { testnet: null }, health: 'ok' as const, error_rate: 0, apply_state: { testnet: { state: 'confirmed', seq: 2 } }, labels: {} };
  t.equal(toNodeState(hb, 0).smoke, null, 'not configured');
  t.same(toNodeState({ ...hb, smoke: { regressed: true, detail: 'latency_ms +50%' } }, 0).smoke, { regressed: true, detail: 'latency_ms +50%' });
  t.same(toNodeState({ ...hb, smoke: { regressed: false, detail: 'ok' } }, 0).smoke, { regressed: false, detail: 'ok' });
});
