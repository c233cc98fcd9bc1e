// The V8 flags `upshift daemon` sets on itself (issue 9, footprint): the optimizing compiler
// off on a plain node, kept on the authority, and an operator's own choice left alone. The
// last test reads the flag back from a real daemon process through V8's own status bits.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { daemonV8Flags, roleV8Flags } from '../../../src/cli/daemon-v8.js';

const plain = { execArgv: [], nodeOptions: '' };

t.test('a daemon starts with TurboFan off; the authority turns it back on, a node keeps it off', async (t) => {
  const started = daemonV8Flags(plain);
  t.same(started, ['--no-turbofan']);
  t.same(roleV8Flags(started, true), ['--turbofan']);
  t.same(roleV8Flags(started, false), []);
  // an operator's own choice is never overridden by the role either
  t.same(roleV8Flags([], true), []);
});

t.test("an operator's own compiler flag is left alone", async (t) => {
  for (const execArgv of [['--turbofan'], ['--opt'], ['--no-opt'], ['--no-turbofan']]) {
    t.same(daemonV8Flags({ execArgv, nodeOptions: '' }), [], execArgv.join(' '));
  }
  // unrelated flags that merely contain the letters do not count
  t.same(daemonV8Flags({ execArgv: ['--optimize-for-size', '--max-semi-space-size=1'], nodeOptions: '--stack-trace-limit=20' }), ['--no-turbofan']);
});

t.test('the flag set at run time stops optimization in this V8', async (t) => {
  // %GetOptimizationStatus bit 16 (0x10) is "TurboFanned"; a hot function is optimized with
  // the default flags and never with --no-turbofan set by v8.setFlagsFromString at run time.
  // Compiled on this thread (--no-concurrent-recompilation): on a background thread the code
  // may not be installed yet when the status is read, as happened in loaded suite runs.
  const probe = (flags: string[]) => {
    const code = `
      ${flags.map((f) => `require('node:v8').setFlagsFromString(${JSON.stringify(f)});`).join('\n')}
      function hot(n) { let s = 0; for (let i = 0; i < n; i++) s += i % 7; return s; }
      %PrepareFunctionForOptimization(hot);
      for (let i = 0; i < 200; i++) hot(1000);
      %OptimizeFunctionOnNextCall(hot);
      hot(1000);
      process.stdout.write(String((%GetOptimizationStatus(hot) & 0x10) !== 0));`;
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--no-concurrent-recompilation', '-e', code], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout;
  };
  t.equal(probe([]), 'true', 'optimized with the defaults');
  t.equal(probe(daemonV8Flags(plain)), 'false', 'not optimized on a node');
  t.equal(probe([...daemonV8Flags(plain), ...roleV8Flags(daemonV8Flags(plain), true)]), 'true', 'optimized again on the authority');
});
