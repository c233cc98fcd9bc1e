// Commands that git takes from configuration (filter drivers, core.fsmonitor) never run
// during a release fetch on a node or a checkout on the authority, whatever the operator's
// global or system git config says: upshift's git reads no config but its own.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createSourceRepo } from '../../../src/adapters/git.js';
import { fetchRelease } from '../../../src/node/apply/release-dir.js';
import { gitRepo } from '../../helpers/gitdir.js';
import { tempDir } from '../../helpers/tmp.js';

// A long-running filter (gitattributes(5), "Long Running Filter Process") that passes
// content through: enough of the pkt-line protocol for git to use it without failing.
const PROCESS_FILTER = `
let buf = Buffer.alloc(0), list = [], lists = 0;
const pkt = (s) => process.stdout.write((s.length + 4).toString(16).padStart(4, '0') + s);
const flush = () => process.stdout.write('0000');
function onList(items) {
  lists += 1;
  if (lists === 1) { pkt('git-filter-server\\n'); pkt('version=2\\n'); flush(); }
  else if (lists === 2) { pkt('capability=smudge\\n'); pkt('capability=clean\\n'); flush(); }
  else if (lists % 2 === 0) {
    pkt('status=success\\n'); flush();
    for (const c of items) process.stdout.write((c.length + 4).toString(16).padStart(4, '0')), process.stdout.write(c);
    flush(); flush();
  }
}
process.stdin.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 4) {
    const n = parseInt(buf.subarray(0, 4).toString(), 16);
    if (n === 0) { buf = buf.subarray(4); const l = list; list = []; onList(l); continue; }
    if (buf.length < n) break;
    list.push(buf.subarray(4, n)); buf = buf.subarray(n);
  }
});
`;

/** A repository whose files name filters, and a git config that defines them and an fsmonitor. */
function hostile(t: Parameters<typeof gitRepo>[0] & { teardown(fn: () => void): void }) {
  const work = tempDir(t, 'upshift-gitcfg-');
  const marker = join(work, 'ran.log');
  const script = (name: string, body: string) => {
    const path = join(work, name);
    writeFileSync(path, `#!/bin/sh\necho ${name} >> ${marker}\n${body}\n`, { mode: 0o755 });
    return path;
  };
  const smudge = script('smudge', 'cat');
  const clean = script('clean', 'cat');
  const proc = script('process', `exec ${JSON.stringify(process.execPath)} ${join(work, 'process.cjs')}`);
  writeFileSync(join(work, 'process.cjs'), PROCESS_FILTER);
  const fsmonitor = script('fsmonitor', 'exit 1');
  const config = join(work, 'gitconfig');
  writeFileSync(config, [
    '[filter "evil"]', `\tsmudge = ${smudge}`, `\tclean = ${clean}`,
    '[filter "proc"]', `\tprocess = ${proc}`,
    '[core]', `\tfsmonitor = ${fsmonitor}`, '',
  ].join('\n'));
  const src = gitRepo(t);
  // Committed without the hostile config: the filters are named, not defined, in the repo.
  const commit = src.commit('filtered', { '.gitattributes': '*.txt filter=evil\n*.js filter=proc\n', 'a.txt': 'a\n', 'b.js': 'b\n' });
  const ran = () => (existsSync(marker) ? readFileSync(marker, 'utf8').split('\n').filter(Boolean) : []);
  return { work, marker, config, src, commit, ran };
}

/** Set env vars for the rest of the test only. */
function withEnv(t: { teardown(fn: () => void): void }, vars: Record<string, string>): void {
  for (const [k, v] of Object.entries(vars)) {
    const saved = process.env[k];
    process.env[k] = v;
    t.teardown(() => (saved === undefined ? delete process.env[k] : (process.env[k] = saved)));
  }
}

const scopes = {
  global: (config: string) => ({ GIT_CONFIG_GLOBAL: config }),
  system: (config: string) => ({ GIT_CONFIG_SYSTEM: config, GIT_CONFIG_NOSYSTEM: '0' }),
  // ~/.gitconfig, found through HOME
  home: (config: string) => {
    const home = join(config, '..', 'home');
    mkdirSync(home);
    copyFileSync(config, join(home, '.gitconfig'));
    return { HOME: home };
  },
};

for (const [scope, env] of Object.entries(scopes)) {

  t.test(`filters and fsmonitor from the ${scope} git config do not run during a release fetch`, async (t) => {
    const h = hostile(t);
    withEnv(t, env(h.config));
    // Sanity: plain git with this environment runs them.
    const probe = join(h.work, 'probe');
    execFileSync('git', ['clone', '-q', h.src.dir, probe], { env: process.env, stdio: 'ignore' });
    execFileSync('git', ['status', '--porcelain'], { cwd: probe, env: process.env, stdio: 'ignore' });
    t.ok(h.ran().includes('smudge') && h.ran().includes('fsmonitor'), `plain git ran ${h.ran().join(', ')}`);
    rmSync(h.marker);

    const dir = join(h.work, 'release');
    await fetchRelease({ remote: h.src.dir, commit: h.commit, dir });
    t.same(h.ran(), [], 'nothing from the config ran');
    t.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'a\n', 'the file is checked out as committed');
  });

  t.test(`filters and fsmonitor from the ${scope} git config do not run during the authority's checkout`, async (t) => {
    const h = hostile(t);
    withEnv(t, env(h.config));
    const repo = createSourceRepo({ remote: h.src.dir, mirrorDir: join(h.work, 'mirror') });
    await repo.fetch();
    await repo.checkout(h.commit, join(h.work, 'tree'));
    t.same(h.ran(), [], 'nothing from the config ran');
    t.equal(readFileSync(join(h.work, 'tree', 'b.js'), 'utf8'), 'b\n');
  });
}

t.test('a transport that runs commands (ext::) stays refused whatever the global config allows', async (t) => {
  const h = hostile(t);
  const config = join(h.work, 'allow-ext');
  writeFileSync(config, '[protocol "ext"]\n\tallow = always\n');
  withEnv(t, { GIT_CONFIG_GLOBAL: config });
  const ran = join(h.work, 'ext-ran');
  const remote = `ext::sh -c touch% ${ran}`;
  // Sanity: plain git with this config runs the command.
  try {
    execFileSync('git', ['ls-remote', remote], { env: process.env, stdio: 'ignore' });
  } catch { /* sh does not speak the protocol */ }
  t.ok(existsSync(ran), 'plain git ran the ext:: command');
  rmSync(ran);
  await t.rejects(fetchRelease({ remote, commit: h.commit, dir: join(h.work, 'release') }), { code: 'E_FETCH' });
  const repo = createSourceRepo({ remote, mirrorDir: join(h.work, 'mirror') });
  await t.rejects(repo.fetch(), { code: 'E_GIT', message: /not allowed/ });
  t.notOk(existsSync(ran), 'the command did not run');
});
