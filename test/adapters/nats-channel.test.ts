// The NATS fleet channel on a real nats-server with JetStream (issue 13).
import t from 'tap';
import { repoPath } from '../helpers/paths.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NatsChannel, type Frame } from '../../src/adapters/nats/channel.js';
import { startNats } from '../helpers/nats.js';
import { freePort } from '../../scripts/demo/ports.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Frames as they arrive, and a way to wait for one that matches. */
function collector(): { frames: Frame[]; refused: string[]; until(pred: (f: Frame[]) => boolean): Promise<void> } {
  const frames: Frame[] = [];
  const refused: string[] = [];
  return {
    frames,
    refused,
    async until(pred) {
      for (let i = 0; i < 600 && !pred(frames); i++) await sleep(50);
      if (!pred(frames)) throw new Error(`never happened; frames: ${frames.map((f) => `${f.key}=${dec(f.data)}`).join(', ')}`);
    },
  };
}

t.test('heartbeats: the newest per node, then every new one', async (t) => {
  const nats = await startNats(t);
  const authority = new NatsChannel({ servers: [nats.url], fleet: 'f1', name: 'auth' });
  const node = new NatsChannel({ servers: [nats.url], fleet: 'f1', name: 'web-1' });
  t.teardown(async () => { await node.close(); await authority.close(); });
  await authority.ensureStreams();
  await sleep(0);
  for (let i = 1; i <= 3; i++) {
    for (let k = 0; k < 100 && !node.connected; k++) await sleep(20);
    t.ok(await node.publishHeartbeat('web-1', enc(`beat ${i}`)), 'acknowledged by the stream');
  }
  await node.publishManifest('testnet', 1, enc('m1')); // a round trip: the beats before it are stored
  const seen = collector();
  authority.follow('heartbeat', { frame: (f) => { seen.frames.push(f); } });
  await seen.until((f) => f.length >= 1);
  t.same(seen.frames.map((f) => [f.key, dec(f.data)]), [['web-1', 'beat 3']], 'only the newest is kept per node');
  await node.publishHeartbeat('web-1', enc('beat 4'));
  await seen.until((f) => f.some((x) => dec(x.data) === 'beat 4'));
});

t.test('manifests are deduplicated by (track, seq), so a new leader may publish again', async (t) => {
  const nats = await startNats(t);
  const ch = new NatsChannel({ servers: [nats.url], fleet: 'f2', name: 'auth' });
  t.teardown(() => ch.close());
  await ch.ensureStreams();
  t.same(await ch.publishManifest('testnet', 4, enc('envelope 4')), { duplicate: false });
  t.same(await ch.publishManifest('testnet', 4, enc('envelope 4')), { duplicate: true });
  t.same(await ch.publishManifest('production', 1, enc('prod 1')), { duplicate: false });
  const seen = collector();
  ch.follow('manifest', { frame: (f) => { seen.frames.push(f); } });
  await seen.until((f) => f.length >= 2);
  t.same(seen.frames.map((f) => f.key).sort(), ['production', 'testnet']);
});

t.test('frames with a subject that names no node, or too large, are refused and counted', async (t) => {
  const nats = await startNats(t);
  const auth = new NatsChannel({ servers: [nats.url], fleet: 'f3', name: 'auth', maxFrameBytes: 1024 });
  const big = new NatsChannel({ servers: [nats.url], fleet: 'f3', name: 'x' });
  t.teardown(async () => { await big.close(); await auth.close(); });
  await big.ensureStreams(); // the stream takes up to 64 KiB; this follower only 1 KiB
  const seen = collector();
  auth.follow('heartbeat', { frame: (f) => { seen.frames.push(f); }, refused: (r, s) => { seen.refused.push(`${r} ${s}`); } });
  for (let k = 0; k < 100 && !big.connected; k++) await sleep(20);
  await big.publishHeartbeat('web-2', new Uint8Array(4096));
  // a subject outside the node-id rule, published past the client's own check
  (big as unknown as { nc: { publish(s: string, d: Uint8Array): void } }).nc.publish('upshift.f3.hb.Web_UPPER', enc('x'));
  await big.publishHeartbeat('web-3', enc('fine'));
  await seen.until((f) => f.some((x) => x.key === 'web-3'));
  for (let i = 0; i < 100 && seen.refused.length < 2; i++) await sleep(50);
  t.same(seen.refused.sort(), ['bad_subject upshift.f3.hb.Web_UPPER', 'oversize upshift.f3.hb.web-2']);
  t.same(seen.frames.map((f) => f.key), ['web-3']);
});

t.test('a daemon starts while the server is down and joins it when it comes up; it survives a restart', async (t) => {
  const port = await freePort();
  const ch = new NatsChannel({ servers: [`nats://127.0.0.1:${port}`], fleet: 'f4', name: 'auth' });
  t.teardown(() => ch.close());
  t.notOk(ch.connected, 'no server yet, and the constructor did not throw or block');
  const nats = await startNats(t, port);
  await ch.ensureStreams();
  t.ok(ch.connected);
  const seen = collector();
  ch.follow('manifest', { frame: (f) => { seen.frames.push(f); } });
  await ch.publishManifest('testnet', 1, enc('one'));
  await seen.until((f) => f.length === 1);
  await nats.stop();
  await nats.restart();
  for (let i = 0; i < 600; i++) {
    try {
      await ch.publishManifest('testnet', 2, enc('two'));
      break;
    } catch {
      await sleep(100);
    }
  }
  await seen.until((f) => f.some((x) => dec(x.data) === 'two'));
  t.pass('reconnected and kept following');
});

t.test('closed before its first connect, a channel stops trying and says so', async (t) => {
  const port = await freePort();
  const ch = new NatsChannel({ servers: [`nats://127.0.0.1:${port}`], fleet: 'f5', name: 'node' });
  t.equal(await ch.publishHeartbeat('node', enc('x')), false, 'not connected: the heartbeat is left to gossip');
  await ch.close();
  // before the fix this waited for a server forever (and kept the process alive retrying)
  const guard = new Promise<string>((r) => setTimeout(() => r('still waiting'), 30_000).unref());
  const outcome = await Promise.race([ch.ensureStreams().then(() => 'connected', (e: { code?: string }) => e.code), guard]);
  t.equal(outcome, 'E_CHANNEL_CLOSED');
  const nats = await startNats(t, port);
  await sleep(1500);
  t.notOk(ch.connected, 'a server that comes up later is not joined');
  await nats.stop();
});

t.test("the README's server permissions: a node publishes only its own heartbeat and reads manifests", async (t) => {
  // the README's example, with test passwords and fleet `prod`
  const readme = readFileSync(repoPath('README.md'), 'utf8');
  const example = /```\n(jetstream \{[\s\S]*?)```/.exec(readme)?.[1];
  if (!example) throw new Error('no nats-server example in the README');
  const dir = mkdtempSync(join(tmpdir(), 'upshift-nats-conf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, example.replace(/jetstream \{[^}]*\}\n/, '').replace('$AUTHORITY_PASS', 'apass').replace('$WEB1_PASS', 'wpass'));
  const nats = await startNats(t, undefined, conf);
  const authority = new NatsChannel({ servers: [nats.url], fleet: 'prod', name: 'authority', user: 'authority', pass: 'apass' });
  const node = new NatsChannel({ servers: [nats.url], fleet: 'prod', name: 'web-1', user: 'web-1', pass: 'wpass' });
  t.teardown(async () => { await node.close(); await authority.close(); });
  await authority.ensureStreams();
  await authority.publishManifest('testnet', 1, enc('m1'));
  for (let k = 0; k < 200 && !node.connected; k++) await sleep(20);
  const manifests = collector();
  node.follow('manifest', { frame: (f) => { manifests.frames.push(f); } });
  await manifests.until((f) => f.length === 1);
  t.equal(dec(manifests.frames[0]?.data ?? new Uint8Array()), 'm1', 'the node reads manifests');
  t.ok(await node.publishHeartbeat('web-1', enc('mine')), 'its own heartbeat subject is acknowledged');
  t.notOk(await node.publishHeartbeat('web-2', enc('forged')), 'another node\'s subject is not');
  await t.rejects(node.publishManifest('testnet', 2, enc('rogue')), 'nor may it publish a manifest');
  const beats = collector();
  authority.follow('heartbeat', { frame: (f) => { beats.frames.push(f); } });
  await beats.until((f) => f.length >= 1);
  t.same(beats.frames.map((f) => [f.key, dec(f.data)]), [['web-1', 'mine']], 'only web-1\'s own heartbeat was stored');
});
