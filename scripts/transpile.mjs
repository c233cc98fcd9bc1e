// `npm test`'s build: every .ts file tsconfig.json includes, compiled file by file (no
// bundling) by esbuild into the dist/ paths `tsc -p tsconfig.json` writes, JavaScript and
// source maps. Under a second, against ~6 s for TypeScript's own one-file emitter and ~15 s
// for tsc, while the run is CPU-bound from its first second. Nothing is type-checked here:
// `npm test` runs `tsc --noEmit` beside the tests (scripts/test.sh), and `isolatedModules`
// (tsconfig.json) makes tsc refuse any file that one-file compilation would get wrong.
// What runs is bundled from the sources afterwards (scripts/bundle.mjs, here and after tsc in
// `npm run build`); these per-file modules are what tests import.
// Plain JavaScript: it runs before anything is compiled.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { buildDefine, failer, messagesText } from './esbuild-shared.mjs';

const root = process.cwd();
const fail = failer('transpile');

const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8'));
const options = tsconfig.compilerOptions ?? {};
if (!options.isolatedModules) fail('tsconfig.json must set isolatedModules: one-file compilation is only exact with it');
// "type": "module" makes every .ts file an ES module, as NodeNext compiles it
if (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).type !== 'module') fail('package.json must say "type": "module"');
if (options.rootDir !== '.' || !options.outDir) fail('tsconfig.json must set rootDir "." and an outDir');

const entryPoints = [];
for (const dir of tsconfig.include ?? []) {
  for (const file of readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })) {
    if (file.endsWith('.d.ts')) continue;
    if (/\.[cm]ts$/.test(file)) fail(`${join(dir, file)}: only .ts files are compiled here`);
    if (file.endsWith('.ts')) entryPoints.push(join(dir, file));
  }
}

const result = await build({
  entryPoints,
  outdir: options.outDir,
  outbase: '.',
  bundle: false,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  sourcesContent: false,
  // the settings that change what a file compiles to: class fields as ES2022 defines them
  tsconfigRaw: { compilerOptions: { target: options.target, useDefineForClassFields: options.useDefineForClassFields } },
  // the build's identity, as the bundle has it (scripts/esbuild-shared.mjs)
  define: buildDefine(root),
  logLevel: 'silent',
}).catch((err) => fail(err.errors ? messagesText(err.errors) : String(err)));
if (result.warnings.length > 0) fail(messagesText(result.warnings));
process.stdout.write(`transpile: ${entryPoints.length} files into ${options.outDir}/\n`);
