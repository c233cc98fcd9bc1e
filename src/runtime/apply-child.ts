// A CLI-free entry to the apply engine for the kill -9 tests: a real process that can
// SIGKILL itself at a failpoint (UPSHIFT_FAILPOINTS) mid-apply, and a second one that
// reconciles afterwards. Bundled into dist/bundle/ (scripts/bundle.mjs) like the CLI.
//
//   node dist/bundle/apply-child.js '<json ChildArgs>'
//
// Prints one JSON line ({ ok, result } or { ok: false, error }) and exits 0 or 1.
import { configSchema } from '../core/config.js';
import { toUpshiftError } from '../core/errors.js';
import { systemClock } from '../adapters/clock.js';
import { codeHash } from '../adapters/code-hash-files.js';
import { createExec } from '../adapters/exec.js';
import { failpointsFromEnv } from '../adapters/failpoints.js';
import { loadKeyset } from '../trust/keyset.js';
import { ApplyEngine } from '../node/apply/engine.js';
import { openStore } from './open-store.js';
import { verifyManifest } from '../trust/verify-manifest.js';

export interface ChildArgs {
  mode: 'apply' | 'reconcile' | 'status';
  stateDir: string;
  node: { id: string; fleet: string; tracks: string[] };
  /** The `app:` section as written in upshift.yaml (durations as text). */
  app: Record<string, unknown>;
  trust: { keys: Array<{ public: string }>; threshold?: number };
  envelope?: string;
}

async function main(raw: string | undefined): Promise<unknown> {
  const args = JSON.parse(raw ?? '') as ChildArgs;
  // The config schema normalizes durations and defaults exactly as the daemon would.
  const app = configSchema.shape.app.unwrap().parse(args.app);
  const store = openStore(args.stateDir, systemClock);
  try {
    const keyset = loadKeyset(args.trust);
    const engine = new ApplyEngine({
      node: args.node,
      app,
      stateDir: args.stateDir,
      store,
      tables: store.journal,
      keyset,
      exec: createExec(),
      clock: systemClock,
      failpoint: failpointsFromEnv(),
      codeHash: (dir) => codeHash(dir),
    });
    if (args.mode === 'reconcile') return await engine.reconcile();
    if (args.mode === 'status') return await engine.applyStatus();
    // this process's door: the envelope it was handed is verified here, once
    return await engine.applyManifest(verifyManifest(args.envelope ?? '', keyset));
  } finally {
    store.close();
  }
}

main(process.argv[2]).then(
  (result) => {
    process.stdout.write(`${JSON.stringify({ ok: true, result })}\n`);
  },
  (err: unknown) => {
    process.stdout.write(`${JSON.stringify({ ok: false, error: toUpshiftError(err).toJSON() })}\n`);
    process.exitCode = 1;
  },
);
