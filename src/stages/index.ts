// The named actors the pipeline machine invokes, built from real dependencies.
import { audit } from './audit.js';
import { benchmark } from './benchmark.js';
import { build } from './build.js';
import { canary } from './canary.js';
import type { PersistedWrites } from '../core/write-chain.js';
import { stageActor, type PipelineDeps } from './context.js';
import { deploy } from './deploy.js';
import { revertActor } from './revert.js';
import { sign } from './sign.js';
import { test } from './test.js';

export type { PipelineDeps } from './context.js';

/** `writes`: the orchestrator's write chain; each actor waits on it before any effect. */
export function createStageActors(deps: PipelineDeps, writes: PersistedWrites) {
  return {
    build: stageActor(deps, writes, 'build', build),
    test: stageActor(deps, writes, 'test', test),
    audit: stageActor(deps, writes, 'audit', audit),
    benchmark: stageActor(deps, writes, 'benchmark', benchmark),
    sign: stageActor(deps, writes, 'sign', sign),
    canary: stageActor(deps, writes, 'canary', canary),
    deploy: stageActor(deps, writes, 'deploy', deploy),
    revert: revertActor(deps, writes),
  };
}
