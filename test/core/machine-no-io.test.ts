// The machine decides; actors act. Its actions, guards and input functions run during a
// transition, before the write chain has persisted it, so any I/O there would be an effect
// that a kill -9 could leave unrecorded. This walks every path of the machine with the I/O
// modules trapped, and checks that nothing gives the machine actions of its own.
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import childProcess from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import { join } from 'node:path';
import { initialTransition, transition, type AnyEventObject } from 'xstate';
import { pipelineMachine } from '../../src/core/machine.js';
import type { StageName, StageOutcome } from '../../src/core/run.js';
import { repoPath } from '../helpers/paths.js';

const STAGES: StageName[] = ['build', 'test', 'audit', 'benchmark', 'sign', 'canary', 'deploy'];
const input = { runId: 'r-1', track: 'stable', version: 'v1', commit: 'a'.repeat(40) };

/** Replace every function of these modules with one that records the call and throws. */
function trapIo(): { calls: string[]; restore(): void } {
  const calls: string[] = [];
  const saved: Array<[Record<string, unknown>, string, unknown]> = [];
  const mods: Array<[string, Record<string, unknown>]> = [
    ['fs', fs as never], ['fs.promises', fs.promises as never], ['child_process', childProcess as never],
    ['net', net as never], ['http', http as never], ['https', https as never], ['globalThis', globalThis as never],
  ];
  for (const [name, mod] of mods) {
    for (const key of Object.keys(mod)) {
      const fn = mod[key];
      if (typeof fn !== 'function' || /^[A-Z]/.test(key)) continue;
      if (name === 'globalThis' && !['fetch', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask'].includes(key)) continue;
      saved.push([mod, key, fn]);
      mod[key] = () => {
        calls.push(`${name}.${key}`);
        throw new Error(`I/O in a machine transition: ${name}.${key}`);
      };
    }
  }
  syncBuiltinESMExports();
  return {
    calls,
    restore() {
      for (const [mod, key, fn] of saved) mod[key] = fn;
      syncBuiltinESMExports();
    },
  };
}

type Step = AnyEventObject;
const done = (id: string, output: StageOutcome): Step => ({ type: `xstate.done.actor.${id}`, output });
const error = (id: string): Step => ({ type: `xstate.error.actor.${id}`, error: Object.assign(new Error('boom'), { code: 'E_X' }) });
const abort: Step = { type: 'ABORT', reason: 'operator', by: 'alice' };

/** Every path: each stage passes, fails, rolls back, errors or is aborted; reverts succeed or fail. */
function paths(): Step[][] {
  const out: Step[][] = [[abort]];
  const passed = (s: StageName): Step => done(s, { outcome: 'passed', reason: 'ok' });
  STAGES.forEach((stage, i) => {
    const before = [{ type: 'START' }, ...STAGES.slice(0, i).map(passed)];
    const reverting = stage === 'canary' || stage === 'deploy';
    for (const end of [
      [passed(stage)], [done(stage, { outcome: 'skipped', reason: 'none' })], [done(stage, { outcome: 'failed', reason: 'no', code: 'E_Y' })],
      [done(stage, { outcome: 'rolled_back', reason: 'back' })], [error(stage)], [abort],
      ...(reverting ? [[abort, done('revert', { outcome: 'passed', reason: 'ok' })], [abort, error('revert')]] : []),
    ]) out.push([...before, ...end]);
  });
  return out;
}

t.test('no transition of the machine touches the file system, processes or the network', async (t) => {
  const trap = trapIo();
  const ends = new Set<string>();
  try {
    for (const steps of paths()) {
      let [snap] = initialTransition(pipelineMachine, input);
      for (const e of steps) [snap] = transition(pipelineMachine, snap, e as never);
      ends.add(String(snap.value));
    }
  } finally {
    trap.restore();
  }
  t.same(trap.calls, [], 'no I/O call was made');
  t.ok(ends.has('completed') && ends.has('failed') && ends.has('rolled_back'), 'the walk reached every final state');
});

t.test('the trap does catch I/O (so the test above can fail)', async (t) => {
  const trap = trapIo();
  try {
    t.throws(() => readFileSync('/etc/hostname'));
  } finally {
    trap.restore();
  }
  t.same(trap.calls, ['fs.readFileSync']);
});

t.test('the machine only assigns context, and the runtime provides only actors', async (t) => {
  const machineSrc = readFileSync(repoPath('src/core/machine.ts'), 'utf8');
  const imports = [...machineSrc.matchAll(/^import (?!type )[^;]*from '([^']+)'/gm)].map((m) => m[1]);
  t.same(imports, ['xstate'], 'machine.ts imports nothing that could do I/O');
  t.match(machineSrc, /actions: \{\s*recordOutcome: assign\(/);
  t.notMatch(machineSrc, /\b(raise|sendTo|enqueueActions|log|emit)\(/, 'no side-effect action creators');
  const provides: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) for (const m of readFileSync(p, 'utf8').matchAll(/\.provide\(\{([^)]*)\}\)/g)) provides.push(m[1] as string);
    }
  };
  walk(repoPath('src'));
  t.ok(provides.length > 0, 'the runtime provides the stage actors');
  for (const p of provides) {
    t.match(p.trim(), /^actors\b/, `provide({${p}}) gives actors`);
    t.notMatch(p, /\b(actions|guards|delays)\b/, 'and no actions, guards or delays');
  }
});
