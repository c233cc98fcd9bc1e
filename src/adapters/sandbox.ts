// The authority's trust boundary (SPEC): the application's build, test, audit and benchmark
// commands are untrusted code. They run as an unprivileged user with a scrubbed environment,
// in work trees outside the state dir, and before the first one runs the daemon checks, as
// that user, that no key and nothing of the state is within reach. Fails closed: an unset
// user, a user the daemon cannot switch to, or anything within reach is E_SANDBOX.
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, isAbsolute, join, relative } from 'node:path';
import type { AuthorityConfig } from '../core/config.js';
import { UpshiftError } from '../core/errors.js';
import type { StageSandbox } from '../core/ports.js';
import { switchUser } from './switch-user.js';
import type { Logger } from './logger.js';

/** A report file larger than this is not read (the cap on a command's stdout). */
const MAX_READ_BYTES = 16 * 1024 * 1024;
/** What a build legitimately needs from the daemon's environment; the rest is dropped. */
const PASSED = ['PATH', 'LANG', 'LC_ALL', 'TZ'];
const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const SEE = 'see README, "Deployment model"';

export interface SandboxOptions {
  sandbox: AuthorityConfig['sandbox'];
  stateDir: string;
  /** Files no stage command may read or replace: the signing keys and the node key. */
  secrets: string[];
  log: Logger;
}

interface BuildUser {
  name: string;
  uid: number;
  gid: number;
}

// Run as the build user: the probe below, and what the daemon must not do with its own rights.
const PROBE = `state=$1 work=$2 home=$3; shift 3
for f in "$@"; do
  [ -r "$f" ] && echo "can read $f"
  [ -w "\${f%/*}" ] && echo "can write \${f%/*}"
done
{ [ -r "$state" ] || [ -w "$state" ] || [ -x "$state" ]; } && echo "can enter $state"
[ -x "$work" ] || echo "cannot reach $work"
[ -w "$home" ] || echo "cannot write $home"
exit 0`;

export function createSandbox(o: SandboxOptions): StageSandbox {
  const workRoot = o.sandbox.work_dir;
  const home = join(workRoot, '.home');
  let user: BuildUser | null = null;
  let checked = false;

  async function check(): Promise<void> {
    const name = o.sandbox.user;
    const me = daemonUserName();
    if (name === null) {
      refuse(`authority.sandbox.user is not set: the application's commands would run as ${me} and could read `
        + 'the signing keys and the state database. Set it to an unprivileged user that owns nothing of '
        + `upshift's, or to "none" on a development machine (${SEE})`);
    }
    if (overlaps(workRoot, o.stateDir) || o.secrets.some((s) => inside(workRoot, s))) {
      refuse(`authority.sandbox.work_dir ${workRoot} overlaps the state dir ${o.stateDir} or holds a key; `
        + 'work trees must live apart from both');
    }
    if (name === 'none') {
      mkdirSync(home, { recursive: true, mode: 0o700 });
      o.log.warn({ module: 'sandbox', user: me }, `authority.sandbox.user is "none": the application's commands `
        + `run as ${me} and CAN READ THE SIGNING KEYS and the state database; for a development machine only`);
      return;
    }
    const u = usableUser(name, me);
    const guarded = [o.stateDir, ...o.secrets, ...o.secrets.map(dirname)];
    const owned = guarded.filter((p) => statSync(p, { throwIfNoEntry: false })?.uid === u.uid);
    if (owned.length > 0) {
      refuse(`sandbox user "${name}" owns ${[...new Set(owned)].join(', ')}: keys and state must be the daemon's`);
    }
    prepareDirs(u);
    const args = ['-c', PROBE, 'probe', o.stateDir, workRoot, home, ...o.secrets];
    const problems = (await runAs(u, '/bin/sh', args, 1 << 16)).split('\n').filter(Boolean);
    if (problems.length > 0) {
      refuse(`sandbox user "${name}" ${problems.join('; ')}: stage commands must not reach keys or state, `
        + `and must reach the work dir (${SEE})`, { problems });
    }
    user = u;
    const fields = { module: 'sandbox', user: name, uid: u.uid, gid: u.gid, work_dir: workRoot };
    o.log.info(fields, `stage commands run as ${name}`);
  }

  // The work dir belongs to the daemon (so a build cannot swap another run's tree for a link);
  // each work tree and the shared HOME belong to the build user.
  function prepareDirs(u: BuildUser): void {
    if (!existsSync(workRoot)) {
      mkdirSync(workRoot, { recursive: true });
      chmodSync(workRoot, 0o711);
    }
    const st = lstatSync(workRoot);
    if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) {
      refuse(`work dir ${workRoot} must be a directory owned by the daemon's user and writable by no one else`);
    }
    mkdirSync(home, { mode: 0o700, recursive: true });
    if (!lstatSync(home).isDirectory()) refuse(`${home} must be a directory`);
    lchownSync(home, u.uid, u.gid);
    chmodSync(home, 0o700);
  }

  // Only success is remembered: a fixed permission is picked up on the next try. Everything
  // below waits for it, so nothing falls back to the daemon's own rights before the check.
  async function ready(): Promise<void> {
    if (checked) return;
    await check();
    checked = true;
  }

  return {
    workRoot,
    ready,
    spawnAs(vars) {
      if (!checked) throw new UpshiftError('E_INTERNAL', 'a stage command was to start before the sandbox check');
      const env: Record<string, string> = {};
      for (const k of [...PASSED, ...o.sandbox.env]) {
        const v = process.env[k];
        if (v !== undefined) env[k] = v;
      }
      env.PATH ??= SAFE_PATH;
      const name = user?.name ?? userInfo().username;
      Object.assign(env, { HOME: home, USER: name, LOGNAME: name }, vars);
      return user ? { uid: user.uid, gid: user.gid, env } : { env };
    },
    async handOver(dir) {
      await ready();
      if (!user) return;
      // still the daemon's own tree (nothing of the build's has run in it), so -R cannot be raced
      const { uid, gid, name } = user;
      await runAs(null, 'chown', ['-R', '-h', '--', `${uid}:${gid}`, dir], 1 << 16).catch((err: unknown) => {
        const why = (err as Error).message;
        throw new UpshiftError('E_WORKTREE', `could not hand ${dir} to ${name}: ${why}`, { cause: err });
      });
    },
    async clear(dir) {
      await ready();
      if (!user || !existsSync(dir)) return;
      // empties it; the directory itself (in the daemon's work dir) is left for the daemon to remove
      await runAs(user, 'rm', ['-rf', '--', dir], 1 << 16).catch(() => undefined);
    },
    async readFile(path) {
      await ready();
      if (!user) return readFile(path, 'utf8').catch(() => null);
      return runAs(user, 'cat', ['--', path], MAX_READ_BYTES).catch(() => null);
    },
  };
}

function refuse(message: string, details?: Record<string, unknown>): never {
  throw new UpshiftError('E_SANDBOX', message, details ? { details } : {});
}

const inside = (parent: string, p: string): boolean => {
  const r = relative(parent, p);
  return r === '' || (r !== '..' && !r.startsWith('../') && !isAbsolute(r));
};
const overlaps = (a: string, b: string): boolean => inside(a, b) || inside(b, a);

/** The build user, if the daemon can switch to it and it is not privileged. */
function usableUser(name: string, me: string): BuildUser {
  const u = lookupUser(name);
  if (!u) {
    refuse(`no user "${name}" on this machine: create it with `
      + `\`useradd --system --user-group --no-create-home --shell /usr/sbin/nologin ${name}\` (${SEE})`);
  }
  const daemonUid = process.getuid?.() ?? -1;
  if (u.uid === 0 || u.gid === 0) refuse(`sandbox user "${name}" has uid or gid 0: it must be unprivileged`);
  if (u.uid === daemonUid) refuse(`sandbox user "${name}" is the daemon's own user: it must be another one`);
  if (daemonUid !== 0 && !canSwitchUsers()) {
    refuse(`the daemon runs as ${me}, not root and without CAP_SETUID and CAP_SETGID, so it cannot run commands as "${name}": `
      + `run it as root, under the authority's systemd drop-in (README "Install as systemd units"), `
      + `or set authority.sandbox.user: none on a development machine (${SEE})`);
  }
  return u;
}

/** The daemon's user name, or its uid when it has no passwd entry. */
function daemonUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/** CAP_SETGID (6) and CAP_SETUID (7) in the effective set: a non-root daemon given them by its unit. */
function canSwitchUsers(): boolean {
  try {
    const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('CapEff:'));
    const eff = BigInt(`0x${line?.split(/\s+/)[1] ?? '0'}`);
    return (eff & (1n << 6n)) !== 0n && (eff & (1n << 7n)) !== 0n;
  } catch {
    return false;
  }
}

/** The passwd entry of `name` (getent, so NSS users count; /etc/passwd without it), or null. */
function lookupUser(name: string): BuildUser | null {
  const line = getent(name) ?? etcPasswd().find((l) => l.startsWith(`${name}:`));
  const [n, , uid, gid] = line?.split(':') ?? [];
  if (n !== name || !/^\d+$/.test(uid ?? '') || !/^\d+$/.test(gid ?? '')) return null;
  return { name, uid: Number(uid), gid: Number(gid) };
}

function etcPasswd(): string[] {
  try {
    return readFileSync('/etc/passwd', 'utf8').split('\n');
  } catch {
    return [];
  }
}

function getent(name: string): string | null {
  try {
    // sync: once per daemon, before any command runs
    const out = execFileSync('getent', ['passwd', name], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000,
    });
    return out.split('\n')[0] ?? null;
  } catch {
    return null;
  }
}

/** stdout of a short helper command, as the build user (null: as the daemon), or an error. */
function runAs(user: BuildUser | null, file: string, args: string[], maxBuffer: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const as = switchUser(file, args, user?.uid, user?.gid);
    execFile(as.file, as.args, {
      cwd: '/', encoding: 'utf8', maxBuffer, timeout: 60_000, env: { PATH: SAFE_PATH }, ...as.ids,
    }, (err, stdout, stderr) => (err ? reject(new Error(stderr.trim() || err.message)) : resolve(stdout)));
  });
}
