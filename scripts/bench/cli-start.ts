// CLI start (issue 9): `upshift --version`, `status` and `fleet ls` on a plain node's config,
// against a bare `node -e 0` timed in the same run. Goal: ≤ 0.25 s where `node -e 0` takes
// about 0.13 s, so the target is a ratio of 0.25 / 0.13.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { defaultCliPath } from '../demo/fleet.js';
import { toHex } from '../../src/trust/bytes.js';
import { generateKeyFile } from '../../src/trust/keyfile.js';
import { startTimes } from './proc.js';
import { progress } from './util.js';

const TARGET_RATIO = Math.round((0.25 / 0.13) * 100) / 100;

export async function benchCliStart(opts: { runs: number }): Promise<object> {
  const dir = mkdtempSync(join(tmpdir(), 'upshift-bench-cli-'));
  try {
    const { publicKey } = await generateKeyFile(join(dir, 'release.key'));
    const config = join(dir, 'upshift.yaml');
    writeFileSync(config, stringify({ fleet: 'demo', state_dir: 'state', node: { id: 'web-1' }, trust: { keys: [{ public: toHex(publicKey) }] } }));
    const cli = defaultCliPath();
    // the first creates the store, the second keeps the validated config in it, as on a node
    for (let i = 0; i < 2; i++) execFileSync(process.execPath, [cli, '-c', config, 'status'], { stdio: 'ignore' });
    progress(`cli_start: ${opts.runs} runs of node -e 0 and of each command`);
    const commands: Record<string, string[]> = { version: ['--version'], status: ['-c', config, 'status'], fleet_ls: ['-c', config, 'fleet', 'ls'] };
    const given = timeAll(cli, commands, opts.runs, process.env);
    // Node 20 parses NODE_EXTRA_CA_CERTS as every process starts (~60 ms of CPU here): it
    // inflates the baseline and each command alike, so the same without it, beside
    const { NODE_EXTRA_CA_CERTS: extra, ...envWithoutCa } = process.env;
    const withoutExtraCa = extra ? timeAll(cli, commands, opts.runs, envWithoutCa) : null;
    return {
      name: 'cli_start',
      runs: opts.runs,
      node_extra_ca_certs: Boolean(extra),
      ...given.out,
      ...(withoutExtraCa ? { without_node_extra_ca_certs: { ...withoutExtraCa.out, meets_target: withoutExtraCa.worst <= TARGET_RATIO } } : {}),
      target_ratio: TARGET_RATIO,
      meets_target: given.worst <= TARGET_RATIO,
      note: 'Each command as a child process, medians; ratio = wall median / wall median of `node -e 0` in this run, cpu_ratio the same for user+sys CPU (steadier on a busy machine). status and fleet ls read a plain node\'s config and store.',
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `node -e 0` and each command, timed in `env`; `worst` is the highest wall ratio. */
function timeAll(cli: string, commands: Record<string, string[]>, runs: number, env: NodeJS.ProcessEnv): { out: Record<string, unknown>; worst: number } {
  const bare = startTimes([process.execPath, '-e', '0'], runs, env);
  const out: Record<string, unknown> = { node_e_0_ms: bare.wall, node_e_0_cpu_ms: bare.cpu };
  let worst = 0;
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  for (const [name, args] of Object.entries(commands)) {
    const t = startTimes([process.execPath, cli, ...args], runs, env);
    const wall = ratio(t.wall.median, bare.wall.median);
    worst = Math.max(worst, wall);
    out[name] = {
      ms: t.wall, ratio: wall,
      ...(t.cpu && bare.cpu ? { cpu_ms: t.cpu, cpu_ratio: ratio(t.cpu.median, bare.cpu.median) } : {}),
    };
  }
  return { out, worst };
}
