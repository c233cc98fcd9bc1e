// `npm test`'s build: every file of tsconfig.json compiled on its own by TypeScript's own
// emitter (ts.transpileModule), into the same dist/ paths, JavaScript and source maps, as
// `tsc -p tsconfig.json` writes them (compared byte for byte: identical). About a third of
// tsc's time, because nothing is type-checked here: `npm test` runs `tsc --noEmit` beside
// the tests instead (scripts/test.sh), and `isolatedModules` (tsconfig.json) makes tsc
// refuse any file that one-file compilation would get wrong.
// Plain JavaScript: it runs before anything is compiled.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

const root = process.cwd();
const fail = (msg) => {
  process.stderr.write(`transpile: ${msg}\n`);
  process.exit(1);
};

const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: (d) => fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')),
});
if (config.errors.length > 0) fail(ts.formatDiagnostics(config.errors, ts.createCompilerHost({})));
const { options } = config;
if (!options.isolatedModules) fail('tsconfig.json must set isolatedModules: one-file compilation is only exact with it');
// NodeNext emits a .ts file as ESM because package.json says "type": "module"; one-file
// compilation cannot look that up, so it is told (and .cts/.mts, which differ, are refused).
if (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).type !== 'module') fail('package.json must say "type": "module"');
const compilerOptions = { ...options, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler };

let written = 0;
for (const file of config.fileNames) {
  if (file.endsWith('.d.ts')) continue;
  if (!file.endsWith('.ts')) fail(`${relative(root, file)}: only .ts files are compiled here`);
  const out = join(options.outDir, relative(options.rootDir, file)).replace(/\.ts$/, '.js');
  const result = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions, fileName: file, reportDiagnostics: true });
  const syntax = result.diagnostics?.filter((d) => d.category === ts.DiagnosticCategory.Error) ?? [];
  if (syntax.length > 0) fail(ts.formatDiagnostics(syntax, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' }));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, result.outputText);
  if (result.sourceMapText !== undefined) writeFileSync(`${out}.map`, result.sourceMapText);
  written++;
}
process.stdout.write(`transpile: ${written} files into ${relative(root, options.outDir)}/\n`);
