// The daemon's rollout driver (issue 12): every `canary.check_every` it steps each active
// deployment — those an operator or agent started, and pipeline ones too (DEPLOY steps
// them as well; steps are compare-and-set, so two drivers never act twice) — and signs and
// publishes what a control action asked for (an operator's `fail` with auto_revert).
import { toUpshiftError } from '../core/errors.js';
import { isActive, stepDeployment, type RolloutDeps } from '../stages/rollout.js';
import { PassLoop } from './pass-loop.js';

export class DeploymentDriver {
  private readonly loop: PassLoop;

  constructor(private readonly deps: RolloutDeps, everyMs: number) {
    // a store that cannot be read (PostgreSQL out of reach) fails the pass, not the daemon
    this.loop = new PassLoop(() => this.pass(), everyMs, (err) => {
      const e = toUpshiftError(err);
      this.deps.log.warn({ module: 'deployments', code: e.code }, `deployment pass failed: ${e.message}; the next pass tries again`);
    });
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One pass over the deployments that need the driver; overlapping calls join the pass in progress. */
  tick(): Promise<void> {
    return this.loop.tick();
  }

  private async pass(): Promise<void> {
    const { store, log } = this.deps;
    for (const d of await store.deployments.list({ limit: 20 })) {
      const manifests = await store.deployments.manifests(d.id);
      const unsigned = manifests.at(-1)?.envelope === null;
      const revertWanted = d.state.revertStep !== null && d.rollbackTarget !== null && !manifests.some((m) => m.step === d.state.revertStep);
      if (!isActive(d) && !unsigned && !revertWanted) continue;
      try {
        await stepDeployment(this.deps, d.id);
      } catch (err) {
        const e = toUpshiftError(err);
        log.warn({ deployment: d.id, code: e.code }, `deployment step failed: ${e.message}; the next pass tries again`);
      }
    }
  }
}
