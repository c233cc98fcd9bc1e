// What scripts/transpile.mjs and scripts/bundle.mjs share: the build's identity for the config
// cache (src/runtime/config-cache.ts), a hash of every source under src/ and of the lockfile,
// defined alike by both so that a config cached by one build is a hit for the other; and how
// either reports a failure.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export function buildId(root = process.cwd()) {
  const hash = createHash('sha256');
  for (const file of readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' }).sort()) {
    if (!file.endsWith('.ts')) continue;
    hash.update(`${file}\0`).update(readFileSync(join(root, 'src', file))).update('\0');
  }
  hash.update(readFileSync(join(root, 'package-lock.json')));
  return hash.digest('hex').slice(0, 24);
}

/** esbuild's `define` for it. */
export const buildDefine = (root) => ({ __UPSHIFT_BUILD__: JSON.stringify(buildId(root)) });

/** `tool: msg` on stderr, exit 1. */
export const failer = (tool) => (msg) => {
  process.stderr.write(`${tool}: ${msg}\n`);
  process.exit(1);
};

/** esbuild's errors or warnings, one `file:line: text` a line. */
export const messagesText = (messages) =>
  messages.map((m) => `${m.location?.file ?? '?'}:${m.location?.line ?? '?'}: ${m.text}`).join('\n');
