// Every deadline a test waits against, in one place. These are upper bounds for things that
// happen "eventually" (a daemon starts, gossip spreads a manifest, a pipeline run ends): a
// passing test never waits for them, so they are generous, sized for a machine with every
// core busy. Wait for events (a log line, a status, a file), never for a fixed time.
// UPSHIFT_TEST_WAIT_SCALE multiplies them all (2 on a very slow machine).
const scale = Number(process.env.UPSHIFT_TEST_WAIT_SCALE ?? '1') || 1;
const ms = (n: number): number => Math.round(n * scale);

export const WAIT = {
  /** A daemon answers /healthz after it was spawned. */
  daemonStart: ms(60_000),
  /** One CLI invocation (runCli's default kill). */
  cli: ms(120_000),
  /** Something that travels by gossip: a manifest spreads, nodes confirm, a cut node catches up. */
  gossip: ms(120_000),
  /** A pipeline run from the commit to its end (build, test, audit, benchmark, canary, deploy). */
  run: ms(240_000),
  /** A process that was killed is gone (the reaper's sweep). */
  reap: ms(60_000),
  /** A daemon given SIGTERM has exited before it gets SIGKILL. */
  stopGrace: ms(25_000),
} as const;

/**
 * Probe until `ok` holds or `ms` pass; returns the last value either way, so the test's own
 * assertion on it says what was wrong. Polls every `every` ms.
 */
export async function poll<T>(probe: () => Promise<T> | T, ok: (v: T) => boolean, ms: number, every = 250): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, every));
  }
}
