// advance_upgrade_pipeline: pass a manual gate, or learn at once what the run waits for.
import { z } from 'zod';
import { advanceUpgrade } from '../services/upgrade.js';
import { defineTool } from './tool.js';

export const advanceUpgradePipeline = defineTool({
  name: 'advance_upgrade_pipeline',
  description: 'Move a run past the manual gate it waits at: a canary awaiting promotion is promoted to the fleet; a '
    + 'run stopped by changed protected paths is approved and retried. Otherwise it answers at once with what the '
    + 'run waits for and until when; it never blocks for a soak.',
  schema: z.strictObject({
    run: z.string().min(1).max(100).optional().describe('the run id (default: the oldest unfinished run)'),
    reason: z.string().min(1).max(500).optional().describe('why, for the audit trail (default: "advanced by an agent tool")'),
  }),
  annotations: { title: 'Advance the upgrade pipeline', readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  run: (env, a) => advanceUpgrade(env.pipeline(), {
    ...(a.run ? { runId: a.run } : {}), ...(a.reason ? { reason: a.reason } : {}), by: env.ctx.actor, drive: env.drive, ...(env.signal ? { signal: env.signal } : {}),
  }),
});
