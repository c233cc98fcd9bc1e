// get_benchmark_history: the snapshots runs and captures recorded, newest first.
import { z } from 'zod';
import { benchmarkHistoryAll } from '../services/benchmark-capture.js';
import { defineTool, READ } from './tool.js';

export const getBenchmarkHistory = defineTool({
  name: 'get_benchmark_history',
  description: 'Benchmark snapshots, newest first: those BENCHMARK recorded in runs and those captured on demand, '
    + 'each with its version, commit and per-metric medians.',
  schema: z.strictObject({
    suite: z.string().min(1).max(63).optional().describe('only this suite'),
    metric: z.string().min(1).max(200).optional().describe('only this metric'),
    limit: z.int().min(1).max(1000).default(20).describe('at most this many snapshots (1 to 1000)'),
  }),
  annotations: { title: 'Get benchmark history', ...READ },
  run: (env, a) => benchmarkHistoryAll(env.ctx, { limit: a.limit, ...(a.suite ? { suite: a.suite } : {}), ...(a.metric ? { metric: a.metric } : {}) }),
});
