// The timer's check while the daemon runs on the same node: one apply lock for both, so no
// concurrent apply; afterwards the daemon's gossip source holds (and advertises) the release
// the timer applied, and its engine finds it already applied. The timer is the built CLI in
// its own process, as upshift-ota.service runs it; the daemon's apply engine and gossip
// source run in this process over the same state dir.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { systemClock } from '../../src/adapters/clock.js';
import { codeHash } from '../../src/adapters/code-hash-files.js';
import { createExec } from '../../src/adapters/exec.js';
import { ApplyEngine } from '../../src/node/apply/engine.js';
import { StoreManifestSource } from '../../src/node/agent/manifest-source.js';
import { loadKeyset } from '../../src/trust/keyset.js';
import { diag, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { otaBed, TRUST } from './ota-bed.js';

const NODE = { id: 'node-a', fleet: 'edge', tracks: ['testnet'] };

t.test('a timer check during a daemon apply waits its turn; then the daemon holds and gossips what the timer applied', async (t) => {
  // the daemon's apply waits in its install hook while `hold` exists: the timer runs meanwhile, whatever the machine's speed
  const hold = join(tempDir(t, 'upshift-hold-'), 'hold');
  const ota = await otaBed(t, { app: { install: `while [ -f ${hold} ]; do sleep 0.05; done` } });
  const { bed } = ota;
  const v1 = await ota.release('v1', 1);
  await bed.engine().applyManifest(v1.manifest);
  writeFileSync(hold, '');
  const v2 = await ota.release('v2', 2);
  const v3 = await ota.release('v3', 3);
  ota.serve([v1, v2, v3]);

  // the daemon's side: its store, its engine, its gossip source (what digests advertise)
  const store = bed.store();
  const tables = store.journal;
  const keyset = loadKeyset(TRUST);
  const { configSchema } = await import('../../src/core/config.js');
  const engine = new ApplyEngine({
    node: NODE, app: configSchema.shape.app.unwrap().parse(bed.app), stateDir: bed.stateDir, store, tables, keyset,
    exec: createExec(), clock: systemClock, codeHash: (dir) => codeHash(dir),
  });
  const daemon = await StoreManifestSource.open({ store, keyset, node: NODE, clock: systemClock, engine });
  t.equal(await daemon.accept(v2.manifest), 'accepted', 'gossip brings v2; the daemon starts applying it');
  while ((await tables.open()) === null) await new Promise((r) => setTimeout(r, 10));

  const configPath = join(bed.stateDir, '..', 'upshift.yaml');
  writeFileSync(configPath, stringify({
    fleet: 'edge', state_dir: bed.stateDir, node: { id: 'node-a', tracks: ['testnet'] }, trust: TRUST, app: bed.app,
    ota: { feed: `${ota.srv.base}/{track}/releases.json` },
  }));
  const timer = () => runCli(['--config', configPath, 'ota', 'check', '--apply', '--json']);
  const duringRun = await timer();
  const during = duringRun.json();
  t.equal(during.outcome, 'failed', during.reason);
  t.equal(during.error?.code, 'E_APPLY_LOCKED', 'the timer does not apply beside the daemon');
  t.equal(duringRun.code, 1);
  t.equal(bed.current(), `releases/v1-${v1.r.commit.slice(0, 12)}`, 'nothing switched meanwhile');
  t.notOk(ota.srv.log.some((l) => l.url.endsWith(v3.bundleName)), 'nor downloaded: the lock was looked at first');
  rmSync(hold);
  await daemon.idle();
  t.equal(bed.current(), `releases/v2-${v2.r.commit.slice(0, 12)}`, "the daemon's apply finished undisturbed");
  const appliesBefore = (await tables.list()).length;

  const nextRun = await timer();
  t.equal(nextRun.code, 0, diag(nextRun));
  t.equal(nextRun.json().outcome, 'updated');
  t.equal(bed.current(), `releases/v3-${v3.r.commit.slice(0, 12)}`);

  // the daemon's next round takes up what the timer stored, advertises it, and applies nothing again
  await daemon.refresh();
  await new Promise((r) => setTimeout(r, 50));
  await daemon.idle();
  t.match(daemon.digest().testnet, { seq: 3 }, 'the daemon advertises testnet#3 in its digest');
  t.equal(daemon.get('testnet'), v3.manifest, 'and serves its exact envelope to pulls');
  t.equal((await tables.list()).length, appliesBefore + 1, "the timer's apply only: the daemon found it already applied");
});
