// capture_benchmark: measure a version now, outside any run.
import { z } from 'zod';
import { captureBenchmark as capture } from '../services/benchmark-capture.js';
import { defineTool } from './tool.js';

export const captureBenchmark = defineTool({
  name: 'capture_benchmark',
  description: "Build a version's work tree and run the benchmark suites of a tier on it (the project's own and the "
    + 'registered ones), recording one snapshot per suite with per-metric medians.',
  schema: z.strictObject({
    version: z.string().min(1).max(200).describe('the version to measure: a tag, a branch or a commit id'),
    tier: z.enum(['fast', 'heavy', 'all']).default('fast').describe('which suites: fast, heavy, or all of them'),
  }),
  annotations: { title: 'Capture a benchmark', readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  run: (env, a) => capture(env.pipeline(), { version: a.version, tier: a.tier, by: env.ctx.actor }),
});
