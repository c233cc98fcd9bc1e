// rollback_upgrade: stop a run; a release that reached nodes is rolled back, signed.
import { z } from 'zod';
import { rollbackUpgrade as rollback } from '../services/upgrade.js';
import { defineTool } from './tool.js';

export const rollbackUpgrade = defineTool({
  name: 'rollback_upgrade',
  description: 'Stop a run in progress. If its release reached nodes (canary or deploy), a signed rollback to the '
    + 'previous version is published and the nodes go back to it. Nothing in progress is an error.',
  schema: z.strictObject({
    reason: z.string().min(1).max(500).describe('why, for the audit trail and the run record'),
    run: z.string().min(1).max(100).optional().describe('the run id (default: the one run in progress)'),
  }),
  annotations: { title: 'Roll back an upgrade', readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  run: (env, a) => rollback(env.pipeline(), { reason: a.reason, by: env.ctx.actor, ...(a.run ? { runId: a.run } : {}) }),
});
