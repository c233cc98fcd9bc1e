// What a child process loaded, read from the process itself: an ES module loader hook and the
// CommonJS cache, logged per pid. Files of the bundle (dist/bundle/, scripts/bundle.mjs)
// stand for the sources and packages esbuild put in them (its metafile), so a test names
// `src/runtime/config-load.ts` or `node_modules/yaml/...` whichever build ran.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoPath } from './paths.js';

const HOOKS = `
import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.LOADED_LOG + '.' + process.pid, url + '\\n');
  return next(url, context);
}`;
const REGISTER = `
import { register, createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';
register(new URL('./hooks.mjs', import.meta.url));
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => appendFileSync(process.env.LOADED_LOG + '.' + process.pid, Object.keys(cache).join('\\n') + '\\n'));
`;

/** Writes the hooks into `dir`; returns the env that makes a child log what it loads into `dir/<name>.log.<pid>`. */
export function loadLogEnv(dir: string, name = 'loaded'): Record<string, string> {
  writeFileSync(join(dir, 'hooks.mjs'), HOOKS);
  writeFileSync(join(dir, 'register.mjs'), REGISTER);
  return { NODE_OPTIONS: `--import ${join(dir, 'register.mjs')}`, LOADED_LOG: join(dir, `${name}.log`) };
}

type Meta = { outputs: Record<string, { inputs: Record<string, unknown> }> };
let meta: Meta | null = null;
const bundleDir = pathToFileURL(repoPath('dist', 'bundle')).href + '/';

/** Loaded URLs with each bundle file replaced by what it holds (paths from the repository root). */
export function expandBundle(urls: readonly string[]): string[] {
  return urls.flatMap((u) => {
    if (!u.startsWith(bundleDir)) return [u];
    meta ??= JSON.parse(readFileSync(repoPath('dist', 'bundle', 'meta.json'), 'utf8')) as Meta;
    const output = meta.outputs[`dist/bundle/${u.slice(bundleDir.length)}`];
    if (!output) throw new Error(`${u} is not in dist/bundle/meta.json`);
    return Object.keys(output.inputs);
  });
}

/** What each process logged under `name` in `dir`, by pid, bundle files expanded. */
export function loadsByPid(dir: string, name = 'loaded'): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const f of readdirSync(dir)) {
    const m = new RegExp(`^${name}\\.log\\.(\\d+)$`).exec(f);
    if (m) out.set(Number(m[1]), expandBundle(readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean)));
  }
  return out;
}

/** The package a loaded path belongs to, or null for upshift's own code and Node's. */
export const packageOf = (path: string): string | null => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? null;

/** Whether a loaded path is upshift's module `src/<mod>` (compiled or source): isModule(p, 'cli/shared'). */
export const isModule = (path: string, mod: string): boolean => new RegExp(`/${mod}\\.[jt]s$`).test(path);
