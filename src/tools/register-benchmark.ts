// register_benchmark: a benchmark repository that runs in BENCHMARK beside the project's own.
import { z } from 'zod';
import { DEFAULT_BENCH_COMMAND, registerBenchmark as register } from '../services/benchmark-registry.js';
import { defineTool } from './tool.js';

export const registerBenchmark = defineTool({
  name: 'register_benchmark',
  description: 'Register a benchmark repository: fetched like any pinned source (hooks off, no submodules), its '
    + 'commit recorded, its command tried once (it must print JSON metrics). From the next run on it runs in '
    + "BENCHMARK beside the project's own suites, in its checkout, with the app's work tree in UPSHIFT_APP_DIR.",
  schema: z.strictObject({
    repo_url: z.string().min(1).max(1000).describe('the git repository: a URL or a path on the authority'),
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/).describe('the suite name: lowercase letters, digits, "-" or "_"'),
    command: z.string().min(1).max(1000).optional().describe(`what to run in the checkout (default: ${DEFAULT_BENCH_COMMAND})`),
    tier: z.enum(['fast', 'heavy']).default('heavy').describe('the tier capture_benchmark selects it by'),
    ref: z.string().min(1).max(200).optional().describe('the branch, tag or commit to pin (default: main, else master)'),
  }),
  annotations: { title: 'Register a benchmark repository', readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  run: (env, a) => register(env.pipeline(), {
    repoUrl: a.repo_url, name: a.name, tier: a.tier, by: env.ctx.actor,
    ...(a.command ? { command: a.command } : {}), ...(a.ref ? { ref: a.ref } : {}),
  }),
});
