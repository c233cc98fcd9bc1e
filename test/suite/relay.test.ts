// The relay in test/helpers/relay.mjs: started as tap starts a test file (tap's processinfo
// hook, coverage off), the file runs in a child without the hook; its exit status, tap's
// messages and tap's timeout signal pass through unchanged. Loaded first through
// NODE_OPTIONS (as `npm test` does) or after the hook through reaper.mjs, alike.
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { repoPath } from '../helpers/paths.js';
import { spawnChild } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';

const FIXTURE = `
process.on('message', (m) => {
  if (m === 'exit') process.exit(3);
  process.send({ echo: m });
});
process.on('SIGALRM', () => { console.log('alarm'); process.exit(7); });
setInterval(() => {}, 1000);
console.log(JSON.stringify({ execArgv: process.execArgv, direct: process.env.UPSHIFT_TEST_DIRECT ?? null, pid: process.pid, nodeOptions: process.env.NODE_OPTIONS ?? null }));
`;

// under tap's hook itself (the relay turned off with UPSHIFT_TEST_DIRECT=1), tap's spawn hooks would rewrite the fixture's env
if (process.execArgv.some((a) => a.includes('@tapjs/processinfo'))) t.plan(0, 'this file runs under the relay only');

const RELAY_FIRST = `--import="${repoPath('test', 'helpers', 'relay.mjs')}"`;

async function startAsTap(t: Tap.Test, nodeOptions?: string) {
  const file = join(tempDir(t, 'upshift-relay-'), 'fixture.mjs');
  writeFileSync(file, FIXTURE);
  const processinfo = import.meta.resolve('@tapjs/processinfo/import');
  const relay = spawnChild(t, process.execPath, ['--enable-source-maps', `--import=${processinfo}`, `--import=${repoPath('test', 'helpers', 'reaper.mjs')}`, file], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: { _TAPJS_PROCESSINFO_COVERAGE_: '0', UPSHIFT_TEST_DIRECT: undefined, NODE_OPTIONS: nodeOptions },
  });
  let out = '';
  relay.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  while (!out.includes('\n')) await once(relay.stdout!, 'data');
  return { relay, first: JSON.parse(out.split('\n')[0] as string) as { execArgv: string[]; direct: string | null; pid: number; nodeOptions: string | null }, out: () => out };
}

for (const [how, nodeOptions] of [['after the hook', undefined], ['first, through NODE_OPTIONS', RELAY_FIRST]] as const) {
  t.test(`relayed ${how}: the test file runs in a child without tap's processinfo hook; messages go both ways; its exit code comes back`, async (t) => {
    const { relay, first } = await startAsTap(t, nodeOptions);
    t.notMatch(first.nodeOptions ?? '', /relay\.mjs|processinfo/, 'nor the relay for what the file starts');
    t.not(first.pid, relay.pid, 'a child of the process tap started');
    t.equal(first.direct, '1');
    t.notOk(first.execArgv.some((a) => a.includes('processinfo')), 'without the hook');
    t.ok(first.execArgv.includes('--enable-source-maps'), 'with the rest of tap\'s node arguments');
    relay.send('ping');
    const [reply] = await once(relay, 'message');
    t.same(reply, { echo: 'ping' });
    relay.send('exit');
    const [code] = await once(relay, 'exit');
    t.equal(code, 3);
  });
}

t.test('tap\'s timeout signal reaches the test file', async (t) => {
  const { relay, out } = await startAsTap(t);
  relay.kill('SIGALRM');
  const [code] = await once(relay, 'exit');
  t.equal(code, 7);
  t.match(out(), /alarm/);
});
