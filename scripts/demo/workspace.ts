// An authority workspace on disk: config, release key, state dir. Used by the demo and
// by tests that need a real configured authority.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { toHex } from '../../src/trust/bytes.js';
import { generateKeyFile } from '../../src/trust/keyfile.js';
import { PROCESS_SCOPE_VAR } from './procs.js';
import { SAMPLE_PIPELINE } from './sample-app.js';

export interface Workspace {
  dir: string;
  configPath: string;
  stateDir: string;
  keyPath: string;
  publicKey: string;
}

/**
 * The sandbox of a demo or test authority. As root, stage commands run as `nobody`, which
 * every Linux system has, so the real uid switch is what runs; otherwise the daemon cannot
 * switch users and runs them itself ("none", with its warning).
 */
export function localSandbox(env: string[] = []): { user: string; env: string[] } {
  // under a test, stage commands keep the test's scope mark, so that they die with the test
  const scope = process.env[PROCESS_SCOPE_VAR] ? [PROCESS_SCOPE_VAR] : [];
  return { user: process.getuid?.() === 0 ? 'nobody' : 'none', env: [...env, ...scope] };
}

/** The build user must be able to pass through `dir` to the work dir in it (keys/ and state/ stay 0700). */
export function letBuildUserThrough(dir: string): void {
  chmodSync(dir, 0o711);
}

export async function createWorkspace(dir: string, opts: { source: string; fleet?: string; nodeId?: string; authority?: Record<string, unknown> }): Promise<Workspace> {
  mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
  letBuildUserThrough(dir);
  const keyPath = join(dir, 'keys', 'release.key');
  const { publicKey } = await generateKeyFile(keyPath);
  const config = {
    fleet: opts.fleet ?? 'demo',
    state_dir: 'state',
    node: { id: opts.nodeId ?? 'authority', labels: { region: 'local' }, tracks: ['testnet', 'production'] },
    trust: { keys: [{ public: toHex(publicKey) }], threshold: 1 },
    authority: {
      source: opts.source,
      signing_keys: ['keys/release.key'],
      tracks: { testnet: { branch: 'main' }, production: { tags: 'v*.*.*' } },
      poll: '*/1 * * * *',
      ...SAMPLE_PIPELINE,
      sandbox: localSandbox(),
      ...(opts.authority ?? {}),
    },
    // port 0: the OS picks a free port (the daemon logs the address it got)
    gossip: { listen: '127.0.0.1:0' },
    log: { level: 'warn' },
  };
  const configPath = join(dir, 'upshift.yaml');
  writeFileSync(configPath, stringify(config));
  return { dir, configPath, stateDir: join(dir, 'state'), keyPath, publicKey: toHex(publicKey) };
}
