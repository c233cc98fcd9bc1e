// `upshift node bad|unmark` against a real state database, through the built CLI.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { NodeTables } from '../../../src/adapters/sqlite/node-tables.js';
import { Store } from '../../../src/adapters/sqlite/store.js';
import { diag, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

const dir = tempDir(t, 'upshift-node-cli-');
const configPath = join(dir, 'upshift.yaml');
writeFileSync(configPath, stringify({ fleet: 'edge', state_dir: 'state', node: { id: 'web-1', tracks: ['testnet'] }, trust: { keys: [{ public: 'ab'.repeat(32) }] } }));
const store = Store.open(join(dir, 'state', 'upshift.db'), () => Date.now());
t.teardown(() => store.close());
const tables = new NodeTables(store.db);
await tables.markBad({ track: 'testnet', commit: 'c'.repeat(40), version: 'v3', reason: 'not healthy by the healthy_deadline', at: Date.now() });
const cli = (...args: string[]) => runCli(['--config', configPath, 'node', ...args]);

t.test('node bad lists the marks; unmark clears one with a reason and records it', async (t) => {
  const listed = await cli('bad', '--json');
  t.equal(listed.code, 0, diag(listed));
  t.match(listed.json().bad, [{ track: 'testnet', version: 'v3', reason: /healthy_deadline/ }]);

  const noReason = await cli('unmark', 'v3');
  t.equal(noReason.code, 2, 'a reason is required');
  const unknown = await cli('unmark', 'v9', '--reason', 'fixed', '--json');
  t.equal(unknown.json().error.code, 'E_USAGE', 'a version that is not marked');
  t.equal((await tables.badVersions()).length, 1, 'nothing cleared by the refusals');

  const cleared = await cli('unmark', 'v3', '--reason', 'disk was full, fixed', '--json');
  t.equal(cleared.code, 0, diag(cleared));
  t.match(cleared.json(), { ok: true, track: 'testnet', cleared: [{ commit: 'c'.repeat(40) }] });
  t.same(await tables.badVersions(), []);
  t.match((await store.events({ limit: 10 })).find((e) => e.kind === 'apply.unmarked'), { actor: 'cli', data: { version: 'v3', reason: 'disk was full, fixed' } });
});
