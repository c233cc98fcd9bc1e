// start_upgrade: run a version through the pipeline, or say what would happen (dry_run).
import { z } from 'zod';
import { planUpgrade } from '../services/upgrade-plan.js';
import { startUpgrade as start } from '../services/upgrade.js';
import { defineTool } from './tool.js';

export const startUpgrade = defineTool({
  name: 'start_upgrade',
  description: 'Start an upgrade: a run of a version through build, test, audit, benchmark, sign, canary and deploy. '
    + 'With dry_run: true nothing is written; the answer says which commit and version would run, each stage with '
    + 'its commands, which nodes would be canaries today, what the rollout would do and which gates are likely '
    + 'to stop it. Refused while another run of the track is in progress.',
  schema: z.strictObject({
    ref: z.string().min(1).max(200).optional().describe("a branch, tag or commit id (default: the track's branch, or its newest tag)"),
    track: z.string().min(1).max(63).optional().describe('the track to run it on (default: from the ref, else the first branch track)'),
    dry_run: z.boolean().default(false).describe('true: only say what would happen; write nothing'),
  }),
  annotations: { title: 'Start an upgrade', readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  mutates: (a) => !a.dry_run,
  run: async (env, a) => {
    const target = { ...(a.ref ? { ref: a.ref } : {}), ...(a.track ? { track: a.track } : {}) };
    return a.dry_run ? planUpgrade(env.pipeline(), target) : start(env.pipeline(), { ...target, drive: env.drive, ...(env.signal ? { signal: env.signal } : {}) });
  },
});
