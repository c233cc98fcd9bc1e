// list_benchmarks: the project's own suites and the registered repositories.
import { z } from 'zod';
import { listBenchmarks as list } from '../services/benchmark-registry.js';
import { defineTool, READ } from './tool.js';

export const listBenchmarks = defineTool({
  name: 'list_benchmarks',
  description: "Every benchmark suite: the project's own from config and the registered repositories (URL, pinned "
    + 'commit, command, tier, who registered it and when).',
  schema: z.strictObject({}).describe('no arguments'),
  annotations: { title: 'List benchmarks', ...READ },
  run: (env) => list(env.pipeline()),
});
