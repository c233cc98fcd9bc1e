// The program as it runs: src/cli/main.ts and the two child entries (config-child, apply-child)
// bundled with their dependencies by esbuild into dist/bundle/, after `npm run build` and in
// `npm test`. A node daemon reads ~100 files instead of ~430 modules; measured here, CPU to
// /healthz and 25 s on: a node's −40%, an authority's start −25–30%, `pipeline history` −30%,
// `status` and `fleet ls` −10%, at the same RSS (issue 9). Split into chunks, so what a
// command never imports (the authority, NATS, PostgreSQL) stays unread.
// dist/src/cli/main.js, the path the bin, the README and the units name, becomes a one-line
// import of dist/bundle/main.js; dist/src/ keeps every module for what imports them directly.
// Plain JavaScript: it runs before anything is compiled.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { buildDefine, failer, messagesText } from './esbuild-shared.mjs';

const root = process.cwd();
const outdir = join('dist', 'bundle');
const fail = failer('bundle');

const define = buildDefine(root);

// What fastify requires only on paths upshift never takes (its default schema compilers, which
// src/http/server.ts replaces, and inject()): ~0.75 MB of source every daemon would hold.
// Each is required, if ever, at run time from fastify's own directory, as server.ts does.
const FASTIFY_LAZY = ['@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler', 'light-my-request'];
const fastifyLazy = {
  name: 'fastify-lazy',
  setup(b) {
    b.onResolve({ filter: /^[@a-z]/ }, (args) => (FASTIFY_LAZY.includes(args.path) && args.importer.includes('/node_modules/fastify/')
      ? { path: args.path, namespace: 'fastify-lazy' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'fastify-lazy' }, (args) => ({
      contents: `module.exports = require('node:module').createRequire(require.resolve('fastify'))(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

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
  // better-sqlite3 is a native addon (pg-native an optional one pg never needs). pino and
  // node-cron are loaded through createRequire (logger.ts, config-load.ts) so that short
  // commands skip them: bundled, fastify's pino and the authority's node-cron would be second copies
  external: ['better-sqlite3', 'pg-native', 'pino', 'node-cron'],
  // CommonJS dependencies inside an ES module still call require() for Node's own modules
  banner: { js: "import { createRequire as __upshiftRequire } from 'node:module'; const require = __upshiftRequire(import.meta.url);" },
  define,
  plugins: [fastifyLazy],
  sourcemap: true,
  sourcesContent: false,
  metafile: true,
  logLevel: 'silent',
}).catch((err) => fail(err.errors ? messagesText(err.errors) : String(err)));
if (result.warnings.length > 0) fail(messagesText(result.warnings));
// which sources and packages each output holds: what test/helpers/loaded-modules.ts reads
writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));

const stub = join('dist', 'src', 'cli', 'main.js');
writeFileSync(stub, "#!/usr/bin/env node\n// upshift's command line, bundled: scripts/bundle.mjs\nimport '../../bundle/main.js';\n", { mode: 0o755 });
rmSync(`${stub}.map`, { force: true });
const outputs = Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js')).length;
// stderr: `npm run bench` builds first and prints its JSON on stdout
process.stderr.write(`bundle: ${outputs} files into ${outdir}/ (build ${JSON.parse(define.__UPSHIFT_BUILD__)})\n`);
