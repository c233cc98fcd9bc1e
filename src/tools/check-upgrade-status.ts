// check_upgrade_status: where every track stands.
import { z } from 'zod';
import { upgradeStatus } from '../services/upgrade.js';
import { defineTool, READ } from './tool.js';

export const checkUpgradeStatus = defineTool({
  name: 'check_upgrade_status',
  description: 'Where upgrades stand: per track the pipeline stage and run (and what it waits for), the version the '
    + 'track runs, whether a new version is waiting in the source, and fleet convergence (nodes on it / live nodes).',
  schema: z.strictObject({}).describe('no arguments'),
  annotations: { title: 'Check upgrade status', ...READ },
  run: (env) => upgradeStatus(env.pipeline()),
});
