// SPEC step 5: probation. Probe `health.url` until it answers 2xx or `healthy_deadline`
// passes; from the first healthy answer it must stay healthy for `min_healthy`. The
// deadlines are absolute timestamps kept in the journal, so a node restarted mid-probation
// continues the same window (reconcile) instead of starting a new one.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Clock } from '../../core/ports.js';

export interface ProbeResult {
  ok: boolean;
  detail: string;
}

/** One GET, `timeoutMs` in all. No connection reuse: each probe sees the app as a new client would. */
export function probeHealth(url: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = request(url, { method: 'GET', agent: false, headers: { 'user-agent': 'upshift-probe' } }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume(); // drain, so the socket closes
      res.on('end', () => finish({ ok: status >= 200 && status < 300, detail: `HTTP ${status}` }));
      res.on('error', (err) => finish({ ok: false, detail: err.message }));
    });
    const timer = setTimeout(() => {
      finish({ ok: false, detail: `no answer within ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => finish({ ok: false, detail: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.end();
  });
}

export interface ProbationWindow {
  /** The first healthy answer must come before this instant. */
  healthyBy: number;
  /** When the first healthy answer came; null until then. */
  healthySince: number | null;
  /** healthySince + min_healthy: healthy at and after this instant ends probation. */
  stableUntil: number | null;
}

export interface ProbationRequest {
  window: ProbationWindow;
  minHealthyMs: number;
  intervalMs: number;
  probe: () => Promise<ProbeResult>;
  clock: Clock;
  signal?: AbortSignal;
  /** Called (and awaited) when the first healthy answer starts the stable window: persist it. */
  onHealthy: (since: number, stableUntil: number) => void | Promise<void>;
}

export type ProbationVerdict = { ok: true; detail: string } | { ok: false; reason: string };

/**
 * Probe until the verdict is known. Every decision is taken on a probe's answer, so a
 * node resumed after its deadlines still probes once: confirmed only by a healthy answer.
 */
export async function runProbation(r: ProbationRequest): Promise<ProbationVerdict> {
  let { healthySince, stableUntil } = r.window;
  for (;;) {
    const result = await r.probe();
    const now = r.clock.now();
    if (healthySince === null || stableUntil === null) {
      if (result.ok) {
        healthySince = now;
        stableUntil = now + r.minHealthyMs;
        await r.onHealthy(healthySince, stableUntil);
      } else if (now >= r.window.healthyBy) {
        return { ok: false, reason: `not healthy by the healthy_deadline (${new Date(r.window.healthyBy).toISOString()}): last probe ${result.detail}` };
      }
    } else if (!result.ok) {
      return { ok: false, reason: `health failed ${now - healthySince} ms into the min_healthy window: ${result.detail}` };
    }
    if (stableUntil !== null && healthySince !== null && result.ok && now >= stableUntil) {
      return { ok: true, detail: `healthy since ${new Date(healthySince).toISOString()} for ${now - healthySince} ms` };
    }
    // Sleep one interval, but wake for the deadline that matters next.
    const next = stableUntil ?? r.window.healthyBy;
    await r.clock.sleep(Math.max(0, Math.min(r.intervalMs, next - now)), r.signal);
  }
}
