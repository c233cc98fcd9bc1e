// README "Run a real fleet", step by step, on loopback: `init --authority` and the edits the
// README names, the authority's daemon, then per node the command `fleet token` prints (run
// as printed, with --dir and --listen), the plain-process app example uncommented and
// filled in, and `upshift daemon`. A real git app; v1 then v2 through the authority's own
// poll (cron with seconds) until every node is confirmed on v2. Every process is stopped.
import t from 'tap';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoopbackFleet, sleep, type Daemon } from '../../../scripts/demo/fleet.js';
import { freePort } from '../../../scripts/demo/ports.js';
import { sampleAppFiles, type SampleKnobs } from '../../../scripts/demo/sample-app.js';
import { CLI_PATH, diag, runCli } from '../../helpers/cli.js';
import { setValue, uncommentApp } from '../../helpers/config-text.js';
import { gitRepo } from '../../helpers/gitdir.js';
import { tempDir } from '../../helpers/tmp.js';

const root = tempDir(t, 'upshift-real-fleet-');
chmodSync(root, 0o711); // the build user passes through to the authority's work dir
const asRoot = process.getuid?.() === 0;
// only its startDaemon/stopDaemon: spawn `upshift daemon`, wait for /healthz, SIGTERM
const procs = new LoopbackFleet({ dir: root, nodes: 0, cliPath: CLI_PATH });
const daemons: Daemon[] = [];
const appPids: string[] = [];
t.teardown(async () => {
  await Promise.all(daemons.map((d) => procs.stopDaemon(d)));
  for (const file of appPids.filter((f) => existsSync(f))) {
    try {
      process.kill(Number(readFileSync(file, 'utf8')), 'SIGTERM');
    } catch {
      // already gone
    }
  }
});

/** The app: the sample app with the npm scripts init's default commands run. */
const repo = gitRepo(t);
const pkg = { name: 'app', version: '1.0.0', private: true, scripts: { build: 'sh build.sh', test: 'sh test.sh', lint: 'sh lint.sh' } };
const lock = { name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'app', version: '1.0.0' } } };
const commit = (k: SampleKnobs) => repo.commit(k.version, {
  ...sampleAppFiles(k), 'package.json': `${JSON.stringify(pkg)}\n`, 'package-lock.json': `${JSON.stringify(lock)}\n`,
});

function edit(path: string, fn: (text: string) => string): void {
  writeFileSync(path, fn(readFileSync(path, 'utf8')));
}

/** Uncomment the authority's `# deployments:` example (README "Deployments"), its key renamed to `track`. */
function uncommentDeployments(text: string, track: string): string {
  const lines = text.split('\n');
  let i = lines.indexOf('  # deployments:');
  if (i < 0) throw new Error('no "# deployments:" example in the config');
  lines[i] = '  deployments:';
  for (i += 1; (lines[i] as string).startsWith('  #   '); i += 1) {
    lines[i] = `  ${(lines[i] as string).slice(4)}`.replace(/^ {4}production:/, `    ${track}:`);
  }
  return lines.join('\n');
}

async function startDaemon(id: string, dir: string, port: number): Promise<Daemon> {
  const configPath = join(dir, 'upshift.yaml');
  const d: Daemon = {
    id, dir, configPath, stateDir: join(dir, 'state'), url: `http://127.0.0.1:${port}`, logPath: join(dir, 'daemon.log'), appPort: null, appDir: null, child: null,
  };
  daemons.push(d);
  await procs.startDaemon(d);
  return d;
}

async function running(node: Daemon): Promise<{ version: string | null; state: string | null }> {
  const body = await (await fetch(`${node.url}/v1/status`)).json() as { tracks: Record<string, { running: { version: string } | null; last_apply: { state: string } | null }> };
  const track = body.tracks.testnet;
  return { version: track?.running?.version ?? null, state: track?.last_apply?.state ?? null };
}

/** Until every node runs `version` confirmed, or 150 s pass; the last statuses either way. */
async function everyNodeOn(nodes: Daemon[], version: string) {
  const until = Date.now() + 150_000;
  for (;;) {
    const all = await Promise.all(nodes.map(running));
    if (all.every((s) => s.version === version && s.state === 'confirmed') || Date.now() > until) return all;
    await sleep(500);
  }
}

// The authority: init, the README's edits, its daemon.
const authorityDir = join(root, 'authority');
const authorityPort = await freePort();
const init = await runCli(['init', '--authority', '--dir', authorityDir]);
const authorityConfig = join(authorityDir, 'upshift.yaml');
edit(authorityConfig, (text) => {
  let out = setValue(text, 'source', JSON.stringify(repo.dir));
  out = setValue(out, 'listen', `"127.0.0.1:${authorityPort}"`);
  out = setValue(out, 'poll', '"* * * * * *"'); // every second: cron with seconds
  out = setValue(out, 'soak', '3s', 4);
  // the canary looked at, and the deployment stepped, every second (README: canary.check_every)
  out = out.replace(/^( {4}soak: .*)$/m, '$1\n    check_every: 1s');
  // testnet's deployment: every node at once, each healthy 2 s before it confirms
  out = uncommentDeployments(out, 'testnet');
  out = setValue(out, 'max_parallel', '"100%"', 6);
  out = setValue(out, 'min_healthy', '2s', 6);
  return setValue(out, 'user', asRoot ? 'nobody' : 'none', 4);
});
await startDaemon('authority', authorityDir, authorityPort);

t.test('init --authority and the README edits give an authority that runs', async (t) => {
  t.equal(init.code, 0, diag(init));
  const status = await runCli(['-c', authorityConfig, 'status', '--json']);
  t.equal(status.code, 0, diag(status));
});

const nodes: Daemon[] = [];
t.test('each node joins with the printed command and starts with `upshift daemon`', async (t) => {
  // the three nodes join side by side, as three machines would
  const joined = await Promise.all(['eu', 'us', 'eu'].map(async (region, i) => {
    const id = `web-${i + 1}`;
    const token = await runCli(['-c', authorityConfig, 'fleet', 'token', '--node', id, '--labels', `region=${region}`]);
    t.equal(token.code, 0, diag(token));
    const printed = /^ {2}upshift (join .*)$/m.exec(token.stdout)?.[1];
    t.ok(printed, 'fleet token prints the command', diag(token));
    const dir = join(root, id);
    const [port, appPort] = [await freePort(), await freePort()];
    const joined = await runCli([...(printed as string).split(' '), '--dir', dir, '--listen', `127.0.0.1:${port}`]);
    t.equal(joined.code, 0, `${id} joined`, diag(joined));
    t.match(joined.stdout, /next: fill in the app: section/);
    // the app section: example (b), this node's repository and port, the app's entry file
    edit(join(dir, 'upshift.yaml'), (text) => {
      const app = uncommentApp(text, 'b').replace(/8080/g, String(appPort)).replace('node server.js', 'node app.js');
      // the canary's probation (README: app.min_healthy); the deployment's waves carry their own
      const filled = setValue(app, 'remote', JSON.stringify(repo.dir));
      return filled.replace(/^( {2}health: .*)$/m, '$1\n  min_healthy: 2s');
    });
    appPids[i] = join(dir, 'app', 'shared', 'app.pid');
    return startDaemon(id, dir, port);
  }));
  nodes.push(...joined);
  t.equal(nodes.length, 3);
});

t.test('v1, then v2 through a canary, reach every node', async (t) => {
  const v1 = commit({ version: 'v1', latencyMs: 10 });
  const on1 = await everyNodeOn(nodes, v1);
  t.ok(on1.every((s) => s.version === v1 && s.state === 'confirmed'), 'every node confirmed on v1', { on1 });
  const v2 = commit({ version: 'v2', latencyMs: 9 });
  const on2 = await everyNodeOn(nodes, v2);
  t.ok(on2.every((s) => s.version === v2 && s.state === 'confirmed'), 'every node confirmed on v2', { on2 });
  // the nodes confirm first; the authority's deploy sees it in their next heartbeats
  type Run = { id: string; commit: string; status: string };
  let history = await runCli(['-c', authorityConfig, 'pipeline', 'history', '--json']);
  let run = history.json<{ runs: Run[] }>().runs.find((r) => r.commit === v2);
  for (let i = 0; i < 120 && run?.status === 'running'; i += 1) {
    await sleep(500);
    history = await runCli(['-c', authorityConfig, 'pipeline', 'history', '--json']);
    run = history.json<{ runs: Run[] }>().runs.find((r) => r.commit === v2);
  }
  t.match(run, { status: 'completed' }, 'the v2 run completed', diag(history));
  const shown = await runCli(['-c', authorityConfig, 'pipeline', 'show', run?.id ?? '-', '--json']);
  const stages = shown.json<{ stages: Array<{ stage: string; outcome: string }> }>().stages;
  t.match(stages.find((s) => s.stage === 'canary'), { outcome: 'passed' }, 'through a canary', diag(shown));
  for (const n of nodes) {
    const appPort = /^ {2}health: \{ url: "http:\/\/127\.0\.0\.1:(\d+)\/healthz"/m.exec(readFileSync(n.configPath, 'utf8'))?.[1];
    const answer = await fetch(`http://127.0.0.1:${appPort}/healthz`);
    t.match(await answer.json(), { version: 'v2' }, `${n.id}'s app serves v2`);
  }
});

t.test('after a "reboot" (app and daemon gone) the daemon starts the plain-process app again', async (t) => {
  const node = nodes[2] as Daemon;
  const appPort = /^ {2}health: \{ url: "http:\/\/127\.0\.0\.1:(\d+)\/healthz"/m.exec(readFileSync(node.configPath, 'utf8'))?.[1];
  await procs.stopDaemon(node);
  const pid = Number(readFileSync(appPids[2] as string, 'utf8'));
  process.kill(pid, 'SIGTERM');
  const gone = () => !existsSync(`/proc/${pid}`) || /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  while (!gone()) await sleep(100);
  await t.rejects(fetch(`http://127.0.0.1:${appPort}/healthz`), 'the app is down');
  await procs.startDaemon(node);
  let answer: unknown = null;
  for (let i = 0; i < 100 && answer === null; i += 1) {
    answer = await fetch(`http://127.0.0.1:${appPort}/healthz`).then((r) => r.json(), () => null);
    if (answer === null) await sleep(200);
  }
  t.match(answer, { version: 'v2' }, 'the daemon ran app.restart at start');
  t.match(readFileSync(node.logPath, 'utf8'), /did not answer .* at start/);
});

t.test('a second daemon on a node\'s address exits 2 with E_LISTEN naming gossip.listen', async (t) => {
  const node = nodes[0] as Daemon;
  const r = await runCli(['-c', node.configPath, 'daemon'], { timeoutMs: 60_000 });
  t.equal(r.code, 2, diag(r));
  t.match(r.stderr, /E_LISTEN: gossip\.listen: cannot listen on 127\.0\.0\.1:\d+: the address is in use/);
  t.equal((await running(node)).state, 'confirmed', 'the first daemon is still serving');
});

