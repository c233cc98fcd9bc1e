// check_canary_health: each canary against the five criteria, with the numbers.
import { z } from 'zod';
import { canaryHealth } from '../services/canary-health.js';
import { defineTool, READ } from './tool.js';

export const checkCanaryHealth = defineTool({
  name: 'check_canary_health',
  description: "Each canary node of a run against each of the five criteria (error rate against the control group, "
    + 'health, heartbeat, code hash, smoke benchmark) with its numbers, the control group\'s numbers and the time '
    + 'left in the soak.',
  schema: z.strictObject({
    run: z.string().min(1).max(100).optional().describe('the run id (default: the run in CANARY, else the newest run that had canaries)'),
  }),
  annotations: { title: 'Check canary health', ...READ },
  run: (env, a) => canaryHealth(env.pipeline(), a.run ? { runId: a.run } : {}),
});
