// kill -9 at named instants of each stage; the restarted run finishes, completed stages
// are not re-run, and there is exactly one manifest per (track, seq).
import t from 'tap';
import { loadConfig } from '../../src/runtime/config-load.js';
import { keysetOf } from '../../src/trust/keyset.js';
import { verifyManifest } from '../../src/trust/verify-manifest.js';
import { crashBed } from './harness.js';

// A stage's command runs once per attempt (benchmark: 3 repetitions per attempt).
const ONCE = { build: 1, test: 1, audit: 1, benchmark: 3 };

// Each case has its own repo, workspace and children: they run side by side.
t.jobs = 5;

const cases: Array<{ point: string; ran: Record<string, number> }> = [
  { point: 'build:started', ran: ONCE },
  { point: 'build:checked-out', ran: ONCE },
  { point: 'build:before-record', ran: { ...ONCE, build: 2 } },
  { point: 'test:started', ran: ONCE },
  { point: 'test:recorded', ran: ONCE },
  { point: 'audit:started', ran: ONCE },
  { point: 'benchmark:started', ran: ONCE },
  { point: 'benchmark:before-record', ran: ONCE },
  { point: 'sign:started', ran: ONCE },
  { point: 'sign:reserved', ran: ONCE },
  { point: 'sign:signed', ran: ONCE },
  { point: 'sign:recorded', ran: ONCE },
  { point: 'canary:started', ran: ONCE },
  { point: 'deploy:started', ran: ONCE },
  { point: 'deploy:published', ran: ONCE },
];

for (const c of cases) {
  t.test(`killed at ${c.point}, the restarted run completes without redoing recorded stages`, async (t) => {
    const bed = await crashBed(t);
    const crashed = await bed.run({ UPSHIFT_FAILPOINTS: c.point });
    t.equal(crashed.signal, 'SIGKILL', `the child died at ${c.point}: ${crashed.stderr}`);
    const resumed = await bed.run();
    t.equal(resumed.code, 0, resumed.code === 0 ? 'the resumed run exits 0' : resumed.stdout + resumed.stderr);
    t.match(resumed.stdout, /resuming run r-/);
    t.same(bed.ran(), c.ran, 'each stage command ran as often as expected');
    const store = bed.store();
    const [run] = await store.listRuns();
    t.equal(run?.status, 'completed');
    t.equal((await store.listRuns()).length, 1, 'one run');
    const manifests = await store.manifests.list('testnet');
    t.equal(manifests.length, 1, 'exactly one manifest for (testnet, 1)');
    t.equal(manifests[0]?.seq, 1);
    const { payload } = verifyManifest(manifests[0]?.envelope ?? '', keysetOf(loadConfig(bed.ws.configPath).config));
    t.equal(payload.commit, run?.commit, 'the one manifest verifies and pins the run commit');
    const stage = c.point.split(':')[0];
    const attempts = (await store.events({ runId: run?.id })).filter((e) => e.kind === 'stage.started' && e.stage === stage).length;
    t.ok(attempts >= 1, `${stage} started ${attempts} time(s)`);
  });
}
