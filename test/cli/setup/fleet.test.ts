// `upshift fleet ls|health` through the built CLI, against a real state database holding
// heartbeats whose strings carry terminal escape sequences, as a hostile node could send them.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Store } from '../../../src/adapters/sqlite/store.js';
import type { Heartbeat } from '../../../src/gossip/types.js';
import { toNodeState } from '../../../src/node/agent/reports.js';
import { diag, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

const dir = tempDir(t, 'upshift-fleet-cli-');
const configPath = join(dir, 'upshift.yaml');
writeFileSync(configPath, stringify({ fleet: 'edge', state_dir: 'state', node: { id: 'web-1', tracks: ['testnet'] }, trust: { keys: [{ public: 'ab'.repeat(32) }] } }));
const store = Store.open(join(dir, 'state', 'upshift.db'), () => Date.now());
t.teardown(() => store.close());

// Set the title (OSC 0), clear the screen (CSI 2J), an 8-bit CSI (U+009B), DEL and a fake line.
const TITLE = '\u001b]0;owned\u0007';
const heartbeat: Heartbeat = {
  node: 'web-9', versions: { testnet: `v7${TITLE}` }, code_hash: { testnet: null }, health: 'ok', error_rate: 0,
  apply_state: 'testnet=\u001b[2Jconfirmed#7', apply_reason: { testnet: 'fine\u009b31m\u007f\nweb-8 ok' }, labels: { region: 'eu' },
};
// the packed apply state of an older node, as received
await store.fleet.record([toNodeState(heartbeat, Date.now())]);
// A failing node whose id carries a newline and a line of its own after it.
const liar: Heartbeat = { ...heartbeat, node: 'evil\nweb-8 all fine', health: 'failing', apply_reason: {} };
await store.fleet.record([toNodeState(liar, Date.now())]);
const cli = (...args: string[]) => runCli(['--config', configPath, 'fleet', ...args]);

/** Any C0 control but newline, DEL or C1 character: what a terminal would act on. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

t.test('fleet ls shows escape sequences from a heartbeat as text, never as raw control characters', async (t) => {
  const r = await cli('ls');
  t.equal(r.code, 0, 'exit 0', diag(r));
  t.notMatch(r.stdout, RAW_CONTROL, 'no control character reaches the terminal');
  t.match(r.stdout, 'v7\\x1b]0;owned\\x07', 'the version shown with its escapes spelled out');
  t.match(r.stdout, '\\x1b[2Jconfirmed');
  t.equal(r.stdout.trim().split('\n').length, 2, 'one line per node, whatever their strings hold');
  t.notMatch(r.stdout, /^web-8 all fine/m);
});

t.test('fleet health escapes a node id carrying a newline, so it cannot fake another line', async (t) => {
  const r = await cli('health');
  t.equal(r.code, 1, 'one node is failing', diag(r));
  t.notMatch(r.stdout, RAW_CONTROL);
  t.match(r.stdout, 'evil\\x0aweb-8 all fine: app health failing');
  t.notMatch(r.stdout, /^web-8 all fine/m, 'the newline inside the id did not start a line');
});

t.test('fleet ls --json keeps the exact strings, with DEL and C1 escaped as JSON', async (t) => {
  const r = await cli('ls', '--json');
  t.equal(r.code, 0, diag(r));
  t.notMatch(r.stdout, RAW_CONTROL);
  const node = r.json().nodes.find((n: { node: string }) => n.node === 'web-9');
  t.equal(node.tracks.testnet.version, `v7${TITLE}`, 'the JSON value is unchanged');
  t.equal(node.tracks.testnet.reason, 'fine\u009b31m\u007f\nweb-8 ok');
});

t.test('an error message is escaped too', async (t) => {
  const r = await runCli(['--config', configPath, 'manifest', 'sign', 'nope\u001b[2J.json', '--key', 'none.key']);
  t.equal(r.code, 2, diag(r));
  t.match(r.stderr, /^upshift: E_USAGE: .*nope\\x1b\[2J\.json/);
  t.notMatch(r.stderr, RAW_CONTROL);
});
