// The installed authority runs as user `upshift` with CAP_SETUID/CAP_SETGID from its systemd
// drop-in, not as root: the sandbox must accept that, and still refuse a daemon with neither.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateKeyFile } from '../../src/trust/keyfile.js';
import { repoPath } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';

const usable = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v setpriv']).status === 0;
const DAEMON_UID = 4242; // the service user `upshift` stands in: any uid but root's and nobody's
const CAPS = '+setuid,+setgid,+chown,+fowner,+dac_override,+kill';

async function probe(t: Tap.Test, caps: boolean): Promise<{ status: number | null; out: string }> {
  const dir = tempDir(t, 'upshift-caps-');
  chmodSync(dir, 0o711);
  const state = join(dir, 'state');
  mkdirSync(state, { mode: 0o700 });
  mkdirSync(join(dir, 'keys'), { mode: 0o700 });
  const key = join(dir, 'keys', 'release.key');
  await generateKeyFile(key);
  for (const p of [state, join(dir, 'keys'), key]) chownSync(p, DAEMON_UID, DAEMON_UID);
  const sandbox = pathToFileURL(repoPath('dist', 'src', 'adapters', 'sandbox.js')).href;
  const logger = pathToFileURL(repoPath('dist', 'src', 'adapters', 'logger.js')).href;
  const exec = pathToFileURL(repoPath('dist', 'src', 'adapters', 'exec.js')).href;
  const script = join(dir, 'probe.mjs');
  writeFileSync(script, `
    const { createSandbox } = await import(${JSON.stringify(sandbox)});
    const { createLogger } = await import(${JSON.stringify(logger)});
    const box = createSandbox({ sandbox: { user: 'nobody', work_dir: ${JSON.stringify(join(dir, 'work'))}, env: [] },
      stateDir: ${JSON.stringify(state)}, secrets: [${JSON.stringify(key)}], log: createLogger({ level: 'silent' }) });
    const { createExec } = await import(${JSON.stringify(exec)});
    try {
      await box.ready();
      console.log('ready uid=' + box.spawnAs({}).uid);
      const as = box.spawnAs({});
      const r = await createExec().run({ command: 'id -u; grep CapEff /proc/self/status; cat ${key}', cwd: '/', timeoutMs: 10000,
        uid: as.uid, gid: as.gid, env: as.env, inheritEnv: false });
      console.log('stage: exit=' + r.exitCode + ' ' + r.tail.split(String.fromCharCode(10)).join(' '));
    }
    catch (e) { console.log(e.code + ' ' + e.message); process.exitCode = 3; }
  `);
  chmodSync(script, 0o644);
  const capArgs = caps ? ['--inh-caps', CAPS, '--ambient-caps', CAPS] : [];
  const r = spawnSync('setpriv', ['--reuid', String(DAEMON_UID), '--regid', String(DAEMON_UID), '--clear-groups', ...capArgs,
    process.execPath, script], { encoding: 'utf8', cwd: dir });
  return { status: r.status, out: r.stdout + r.stderr };
}

t.test('a non-root daemon with CAP_SETUID and CAP_SETGID runs stage commands as the build user', { skip: !usable && 'needs root and setpriv' }, async (t) => {
  const r = await probe(t, true);
  t.equal(r.status, 0, r.out);
  t.match(r.out, /ready uid=65534/);
  t.match(r.out, /stage: exit=1 65534 CapEff:\s+0+ cat: .*Permission denied/, 'a stage command has no capabilities and cannot read the key');
});

t.test('a non-root daemon without them is refused, naming the drop-in', { skip: !usable && 'needs root and setpriv' }, async (t) => {
  const r = await probe(t, false);
  t.equal(r.status, 3, r.out);
  t.match(r.out, /E_SANDBOX .*not root and without CAP_SETUID and CAP_SETGID/);
});
