// Fleet correctness on loopback (issue 8, items 20–23), one small fleet shared by the
// subtests in order: an authority daemon and two node daemons (real processes, real gossip,
// real applies of the sample app), then a third node that joins late. The authority killed
// mid-soak is correctness-restart.test.ts, on a fleet of its own, so the two run side by side.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { SampleKnobs } from '../../../scripts/demo/sample-app.js';
import { diag, runCli } from '../../helpers/cli.js';
import { eventually, release as releaseOn, runs, releaseToAll } from '../../helpers/fleet-track.js';
import { startTestFleet } from '../../helpers/loopback-fleet.js';
import { poll, WAIT } from '../../helpers/timeouts.js';

// the canary's soak (s); the slow install below outlasts it
const SOAK_S = 3;
const SLOW_INSTALL_S = 5;

const { fleet, store } = await startTestFleet(t, 'upshift-fleetfix-', {
  nodes: 2,
  waits: WAIT,
  // ceil(0.3 × 2 or 3) = 1 canary; a release that carries a `slow-install` file sleeps that many seconds in install
  authority: {
    poll: '* * * * * *',
    canary: { fraction: 0.3, soak: `${SOAK_S}s`, check_every: '500ms', heartbeat_timeout: '6s', labels: ['region'] },
  },
  app: { install: 'if [ -f slow-install ]; then sleep "$(cat slow-install)"; fi' },
});

async function release(knobs: SampleKnobs, slowInstallSec = 0) {
  const marker = join(fleet.repoDir, 'slow-install');
  if (slowInstallSec > 0) writeFileSync(marker, `${slowInstallSec}\n`);
  else rmSync(marker, { force: true });
  return releaseOn(fleet, store, knobs);
}

/** `fleet health --json` until it exits 0 (a heartbeat or two may still be on its way). */
async function fleetHealth() {
  return poll(() => runCli(['--config', fleet.authority.configPath, 'fleet', 'health', '--json']), (r) => r.code === 0, WAIT.gossip, 500);
}

let good = '';

t.test('v1 reaches both nodes (no healthy node yet, so no canary)', async (t) => {
  good = (await releaseToAll(t, fleet, store, { version: 'v1', latencyMs: 10 })).commit;
});

t.test('after a canary is rolled back, fleet health is clean and a late joiner still gets the fleet release', async (t) => {
  const v2 = await release({ version: 'v2', latencyMs: 9, healthy: false });
  t.equal(v2.run.status, 'rolled_back');
  t.equal(v2.stage('canary')?.outcome, 'rolled_back', v2.stage('canary')?.reason ?? '');
  const all = await eventually(fleet.nodes, runs(good));
  t.ok(all.every(runs(good)), 'both nodes back on (or still on) v1, confirmed', { all });

  // #21: the non-canary was never targeted by anything after v1's manifest: not behind
  const health = await fleetHealth();
  t.equal(health.code, 0, 'fleet health exits 0 after a correctly stopped canary', diag(health));

  // #20: the newest manifest is the rollback addressed to the canary; the new node must still find v1's
  const late = await fleet.join('node-3');
  const [after] = await eventually([late], runs(good));
  t.equal(after?.running?.version, good, `${late.id} runs the fleet's release`, { after });
  const again = await fleetHealth();
  t.equal(again.code, 0, 'and the fleet of three is healthy', diag(again));
});

t.test('a canary whose apply is slower than the soak is soaked from its confirm, and passes', async (t) => {
  // 5 s of install, a 3 s soak: a soak counted from selection would end mid-apply
  const v3 = await release({ version: 'v3', latencyMs: 9 }, SLOW_INSTALL_S);
  const canary = v3.stage('canary');
  t.equal(v3.run.status, 'completed', v3.run.reason ?? '');
  t.equal(canary?.outcome, 'passed', canary?.reason ?? '');
  const evidence = canary?.evidence as { confirmed_at: Record<string, string>; soak_until: string };
  const confirmed = Object.values(evidence.confirmed_at)[0] ?? '';
  t.equal(Date.parse(evidence.soak_until) - Date.parse(confirmed), SOAK_S * 1000, `the ${SOAK_S} s soak counted from the confirm`);
  const installed = Date.parse(confirmed) - (canary?.startedAt ?? 0) >= SLOW_INSTALL_S * 1000;
  t.ok(installed, `the confirm came after the ${SLOW_INSTALL_S} s install`, { confirmed, started: canary?.startedAt });
  const all = await eventually(fleet.nodes, runs(v3.commit));
  t.ok(all.every(runs(v3.commit)), 'every node runs v3', { all });
  good = v3.commit;
});
