// `npm run fleet -- [--nodes N] [--dir D]`: the loopback fleet harness by hand. Starts an
// authority and N node daemons on 127.0.0.1 ports (scripts/demo/fleet.ts), commits a first
// sample app version, prints where everything is, and keeps running until Ctrl-C. Commit
// more versions with `git -C <dir>/app-source commit ...` and watch the authority take them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LoopbackFleet } from './demo/fleet.js';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '4' }, dir: { type: 'string' }, keep: { type: 'boolean', default: false } } });
const nodes = Number(values.nodes);
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 100) {
  process.stderr.write(`--nodes expects 1..100, got "${values.nodes}"\n`);
  process.exit(2);
}
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'upshift-fleet-'));
const fleet = new LoopbackFleet({ dir, nodes });
const say = (s: string) => process.stdout.write(`${s}\n`);
try {
  await fleet.start();
  const commit = fleet.commit({ version: 'v1', latencyMs: 10 });
  say(`fleet in ${dir}`);
  say(`  authority  ${fleet.authority.url}  config ${fleet.authority.configPath}`);
  for (const n of fleet.nodes) say(`  ${n.id.padEnd(9)}  ${n.url}  app :${n.appPort}  log ${n.logPath}`);
  say(`committed sample app v1 (${commit.slice(0, 12)}) to ${fleet.repoDir}; the authority polls every 2 s`);
  say(`watch it:  node dist/src/cli/main.js --config ${fleet.authority.configPath} fleet ls`);
  say('Ctrl-C stops every daemon and app' + (values.keep || values.dir ? '' : ' and removes the directory'));
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
} finally {
  await fleet.stop();
  if (!values.keep && !values.dir) rmSync(dir, { recursive: true, force: true });
}
