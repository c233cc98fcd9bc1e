// compare_benchmarks: two versions' medians side by side.
import { z } from 'zod';
import { compareVersions } from '../services/benchmark-capture.js';
import { defineTool, READ } from './tool.js';

export const compareBenchmarks = defineTool({
  name: 'compare_benchmarks',
  description: 'Compare the newest benchmark snapshots of two versions: per metric both medians, the change, the '
    + 'tolerance and a verdict (pass or regressed), per suite measured on both.',
  schema: z.strictObject({
    old: z.string().min(1).max(200).describe('the baseline version: a tag or a commit id (7+ hex characters)'),
    new: z.string().min(1).max(200).describe('the version judged against it: a tag or a commit id (7+ hex characters)'),
    suite: z.string().min(1).max(63).optional().describe('only this suite (default: every suite measured on both)'),
  }),
  annotations: { title: 'Compare benchmarks', ...READ },
  run: (env, a) => compareVersions(env.ctx, { old: a.old, new: a.new, ...(a.suite ? { suite: a.suite } : {}) }),
});
