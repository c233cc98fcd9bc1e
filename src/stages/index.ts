// The named actors the pipeline machine invokes, built from real dependencies.
import { audit } from './audit.js';
import { benchmark } from './benchmark.js';
import { build } from './build.js';
import { canary } from './canary.js';
import { stageActor, type PipelineDeps } from './context.js';
import { deploy } from './deploy.js';
import { revertActor } from './revert.js';
import { sign } from './sign.js';
import { test } from './test.js';

export type { PipelineDeps } from './context.js';

export function createStageActors(deps: PipelineDeps) {
  return {
    build: stageActor(deps, 'build', build),
    test: stageActor(deps, 'test', test),
    audit: stageActor(deps, 'audit', audit),
    benchmark: stageActor(deps, 'benchmark', benchmark),
    sign: stageActor(deps, 'sign', sign),
    canary: stageActor(deps, 'canary', canary),
    deploy: stageActor(deps, 'deploy', deploy),
    revert: revertActor(deps),
  };
}
