// The program as it runs: src/cli/main.ts and the two child entries (config-child, apply-child)
// bundled with their dependencies by esbuild into dist/bundle/, after `npm run build` and in
// `npm test`. A start reads a few dozen files instead of ~1,000 modules: an authority's CPU
// to /healthz drops by about a quarter, a short command's by about a fifth (issue 9). Split into
// chunks, so what a command never imports (the authority, NATS, PostgreSQL) stays unread.
// dist/src/cli/main.js, the path the bin, the README and the units name, becomes a one-line
// import of dist/bundle/main.js; dist/src/ keeps every module for what imports them directly.
// better-sqlite3 stays a package (a native addon), as do pino and node-cron, which upshift
// loads through createRequire so that short commands skip them.
// Plain JavaScript: it runs before anything is compiled.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { buildDefine } from './build-id.mjs';

const root = process.cwd();
const outdir = join('dist', 'bundle');
const fail = (msg) => {
  process.stderr.write(`bundle: ${msg}\n`);
  process.exit(1);
};
const where = (m) => `${m.location?.file ?? '?'}:${m.location?.line ?? '?'}: ${m.text}`;

const define = buildDefine(root);

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: { main: 'src/cli/main.ts', 'config-child': 'src/runtime/config-child.ts', 'apply-child': 'src/runtime/apply-child.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // every file in one directory: a module that finds a sibling entry (config-apart.ts finds
  // config-child.js beside itself) finds it from any chunk
  chunkNames: '[name]-[hash]',
  external: ['better-sqlite3', 'pg-native'],
  // CommonJS dependencies inside an ES module still call require() for Node's own modules
  banner: { js: "import { createRequire as __upshiftRequire } from 'node:module'; const require = __upshiftRequire(import.meta.url);" },
  define,
  sourcemap: true,
  sourcesContent: false,
  metafile: true,
  logLevel: 'silent',
}).catch((err) => fail(err.errors?.map(where).join('\n') ?? String(err)));
if (result.warnings.length > 0) fail(result.warnings.map(where).join('\n'));
// which sources and packages each output holds: what test/cli/setup/start-imports.test.ts reads
writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));

const stub = join('dist', 'src', 'cli', 'main.js');
writeFileSync(stub, "#!/usr/bin/env node\n// upshift's command line, bundled: scripts/bundle.mjs\nimport '../../bundle/main.js';\n", { mode: 0o755 });
rmSync(`${stub}.map`, { force: true });
const outputs = Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js')).length;
process.stdout.write(`bundle: ${outputs} files into ${outdir}/ (build ${JSON.parse(define.__UPSHIFT_BUILD__)})\n`);
