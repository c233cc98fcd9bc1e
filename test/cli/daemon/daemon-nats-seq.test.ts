// An authority daemon with `channel: nats` reads the newest manifest per track from the stream
// before it reserves a seq: a seq the fleet was sent (by a lost leader) and its store lacks
// blocks the run at SIGN (E_SEQ_REGRESSION, the run waits), `manifest import` repairs it while
// the daemon runs, and the next pass signs one seq above. Its own node never held that seq:
// only the channel knew it.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { sampleAppFiles } from '../../../scripts/demo/sample-app.js';
import { createWorkspace } from '../../../scripts/demo/workspace.js';
import { NatsChannel } from '../../../src/adapters/nats/channel.js';
import { openStore } from '../../../src/runtime/deps.js';
import { serializeEnvelope } from '../../../src/trust/envelope.js';
import { loadSigners } from '../../../src/trust/keyfile.js';
import { signManifest, verifyManifest } from '../../../src/trust/verify-manifest.js';
import { loadKeyset } from '../../../src/trust/keyset.js';
import { CLI_PATH, diag, runCli } from '../../helpers/cli.js';
import { gitRepo } from '../../helpers/gitdir.js';
import { startNats } from '../../helpers/nats.js';
import { spawnChild } from '../../helpers/procs.js';
import { tempDir } from '../../helpers/tmp.js';

async function until<T>(what: string, get: () => Promise<T | null | undefined | false>, logs: () => string): Promise<T> {
  for (let i = 0; i < 2400; i++) {
    const v = await get();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never happened: ${what}\n${logs()}`);
}

t.test('a seq only the NATS stream knows blocks SIGN until imported; then the run signs one above', async (t) => {
  const server = await startNats(t);
  const repo = gitRepo(t);
  const head = repo.commit('v1', sampleAppFiles({ version: 'v1', latencyMs: 10 }));
  const ws = await createWorkspace(tempDir(t), { source: repo.dir, authority: { poll: '* * * * * *' } });
  const cfg = parse(readFileSync(ws.configPath, 'utf8')) as { fleet: string; channel?: unknown };
  cfg.channel = { kind: 'nats', servers: [server.url] };
  writeFileSync(ws.configPath, stringify(cfg));

  // a lost leader sent seq 1 of testnet to the fleet; this store never got it
  const now = Date.now();
  const lost = serializeEnvelope(signManifest({
    schema: 'upshift.manifest/v1', fleet: cfg.fleet, track: 'testnet', seq: 1, version: 'v-lost', commit: 'a'.repeat(40),
    code_hash: 'b'.repeat(64), created_at: new Date(now - 1000).toISOString(), expires_at: new Date(now + 3_600_000).toISOString(),
    kind: 'release', targets: 'all', evidence: { run_id: 'lost-run', test: null, benchmark: null, notes: [] },
  }, await loadSigners([ws.keyPath])));
  const old = new NatsChannel({ servers: [server.url], fleet: cfg.fleet, name: 'lost-leader' });
  t.teardown(() => old.close());
  await old.ensureStreams();
  await old.publishManifest('testnet', 1, new TextEncoder().encode(lost));

  const child = spawnChild(t, process.execPath, [CLI_PATH, '--config', ws.configPath, 'daemon'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { UPSHIFT_LOG_LEVEL: 'info' } });
  let logs = '';
  child.stderr!.on('data', (d) => (logs += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const runOf = async () => {
    const store = openStore(ws.stateDir);
    try {
      return await store.findRun('testnet', head);
    } finally {
      store.close();
    }
  };
  await until('blocked at SIGN', async () => {
    const run = await runOf();
    if (run?.status === 'completed') throw new Error('the run signed a second manifest for the seq the fleet was sent');
    return logs.includes('E_SEQ_REGRESSION') && run?.stage === 'signing';
  }, () => logs);
  t.match(await runOf(), { status: 'running', stage: 'signing' }, 'the run waits, not failed');

  const file = join(tempDir(t), 'testnet-1.json');
  writeFileSync(file, `${lost}\n`);
  const imported = await runCli(['--config', ws.configPath, 'manifest', 'import', file, '--json']);
  t.equal(imported.code, 0, diag(imported));
  t.match(imported.json(), { seq: 1, outcome: 'stored' });

  const done = await until('completed', async () => (await runOf())?.status === 'completed' && await runOf(), () => logs);
  const store = openStore(ws.stateDir);
  const m = await store.manifests.forRun(done.id, 'release');
  store.close();
  t.equal(m?.seq, 2, 'one above the seq the channel carried');
  const keyset = loadKeyset({ keys: [{ public: ws.publicKey }] });
  t.equal(verifyManifest(m?.envelope ?? '', keyset).payload.version, head);
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});
