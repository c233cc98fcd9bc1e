// The relay: tap adds its processinfo loader hook to every test process, coverage or not. It
// records and line-counts every module loaded, off-thread, ~0.3 s of CPU a file. With
// coverage off, the test file runs again in a child without it; this process only relays:
// the child's stdout and stderr are tap's, messages both ways (tap's timeouts), signals on,
// and its exit status back. UPSHIFT_TEST_DIRECT=1 turns it off, to compare.
//
// `npm test` loads this module first, through NODE_OPTIONS (Node imports those before the
// command line's, where tap puts its hook ahead of .taprc's node-arg), so the relaying process
// never loads the hook either (~0.17 s of CPU a file). Without that (`npx tap file`),
// reaper.mjs imports it after the hook and it relays all the same. In any other process
// (tap itself, the child) it only exports the env filter below.
// Plain JavaScript, not TypeScript, so that loading it costs no compiler in any process.
import { spawn } from 'node:child_process';

const DIRECT_VAR = 'UPSHIFT_TEST_DIRECT';
const processinfoArg = (a) => a.includes('@tapjs/processinfo');
const ours = (o) => processinfoArg(o) || o.includes('test/helpers/relay.mjs');

/** An environment without tap's processinfo and this relay: what the test file and its children get. */
export const withoutProcessinfo = (env) => {
  const out = { ...env };
  for (const k of Object.keys(out)) if (k.startsWith('_TAPJS_PROCESSINFO_')) delete out[k];
  if (out.NODE_OPTIONS) out.NODE_OPTIONS = out.NODE_OPTIONS.split(/\s+/).filter((o) => !ours(o)).join(' ');
  return out;
};

if (process.env._TAPJS_PROCESSINFO_COVERAGE_ === '0' && process.execArgv.some(processinfoArg) && !process.env[DIRECT_VAR] && process.argv[1]) {
  // loaded after the hook: its spawn hooks (process-on-spawn, a global singleton) would put it back into the child
  const spawnHooks = globalThis[Symbol.for('process-on-spawn@*:singletonId')];
  if (Array.isArray(spawnHooks?.listeners)) spawnHooks.listeners.push((opts) => (opts.env = withoutProcessinfo(opts.env)));
  const child = spawn(process.execPath, [...process.execArgv.filter((a) => !processinfoArg(a)), ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...withoutProcessinfo(process.env), [DIRECT_VAR]: '1' },
  });
  process.on('message', (m) => { if (child.connected) child.send(m, () => {}); });
  child.on('message', (m) => process.send?.(m));
  const relayed = ['SIGALRM', 'SIGTERM', 'SIGINT', 'SIGHUP'];
  for (const sig of relayed) process.on(sig, () => child.kill(sig));
  const [code, signal] = await new Promise((resolve) => child.on('exit', (...end) => resolve(end)));
  if (signal) {
    for (const sig of relayed) process.removeAllListeners(sig);
    process.kill(process.pid, signal);
  }
  process.exit(code ?? 1);
}
