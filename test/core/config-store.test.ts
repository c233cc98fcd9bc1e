// authority.store: sqlite by default (every existing config still loads), postgres with its
// connection settings; bad values are refused naming the setting, and an unreadable or
// empty password file is a clear E_CONFIG.
import t, { type Test } from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateConfig, type ConfigProblem } from '../../src/core/config.js';
import { isUpshiftError } from '../../src/core/errors.js';
import { leaderWaitMs, pgTarget, postgresStore, replicaName } from '../../src/runtime/pg-target.js';
import { tempDir } from '../helpers/tmp.js';

function minimal(store?: unknown): any {
  return {
    fleet: 'demo',
    node: { id: 'authority' },
    trust: { keys: [{ public: 'a'.repeat(64) }] },
    authority: {
      source: 'repo', signing_keys: ['keys/release.key'], build: { command: 'make' }, test: { command: 'make test' },
      ...(store === undefined ? {} : { store }),
    },
  };
}

function problemsOf(t: Test, raw: unknown): ConfigProblem[] {
  try {
    validateConfig(raw);
  } catch (err) {
    t.ok(isUpshiftError(err, 'E_CONFIG'), 'refused with E_CONFIG');
    return ((err as { details?: { problems?: ConfigProblem[] } }).details?.problems ?? []);
  }
  t.fail('the config was accepted');
  return [];
}

const pg = { kind: 'postgres', hosts: ['/run/postgresql'], database: 'upshift', user: 'upshift' };

t.test('a config without store is sqlite; postgres gets its defaults', async (t) => {
  t.same(validateConfig(minimal()).authority?.store, { kind: 'sqlite' });
  const c = validateConfig(minimal(pg));
  const st = postgresStore(c);
  t.equal(st?.stall_timeout, 10_000);
  t.equal(st?.tls, false);
  t.match(replicaName(c, st as NonNullable<typeof st>), new RegExp(`^authority@.+:${process.pid}$`));
  t.equal(replicaName(validateConfig(minimal({ ...pg, replica: 'auth-1' })), postgresStore(validateConfig(minimal({ ...pg, replica: 'auth-1' })))!), 'auth-1');
});

t.test('bad store values are refused, each at its setting', async (t) => {
  t.match(problemsOf(t, minimal({ kind: 'mysql' })).map((p) => p.path), ['authority.store.kind']);
  t.match(problemsOf(t, minimal({ ...pg, hosts: [] })).map((p) => p.path), ['authority.store.hosts']);
  t.match(problemsOf(t, minimal({ ...pg, stall_timeout: 'soon' })).map((p) => p.path), ['authority.store.stall_timeout']);
  t.match(problemsOf(t, minimal({ ...pg, stall_timeout: '1s' })), [{ path: 'authority.store.stall_timeout', message: /at least 2s/ }]);
  t.match(problemsOf(t, minimal({ ...pg, tls: true })).map((p) => p.path), ['authority.store.tls']);
  t.match(problemsOf(t, minimal({ ...pg, tls: { cert_file: 'c.pem' } })), [{ path: 'authority.store.tls', message: /cert_file and key_file together/ }]);
  t.match(problemsOf(t, minimal({ ...pg, replica: 'a b' })).map((p) => p.path), ['authority.store.replica']);
  t.match(problemsOf(t, minimal({ ...pg, port: 5432 })).map((p) => p.path), ['authority.store']);
});

t.test('the password file: read (first line), or a clear E_CONFIG naming the setting', async (t) => {
  const dir = tempDir(t, 'upshift-pgpass-');
  const file = join(dir, 'pw');
  writeFileSync(file, 's3cret\nignored\n');
  const st = postgresStore(validateConfig(minimal({ ...pg, password_file: file })))!;
  t.equal(pgTarget(st).password, 's3cret');
  const missing = postgresStore(validateConfig(minimal({ ...pg, password_file: join(dir, 'nope') })))!;
  t.throws(() => pgTarget(missing), { code: 'E_CONFIG', message: /authority\.store\.password_file: cannot read .*nope \(ENOENT\)/ });
  writeFileSync(file, '\n');
  t.throws(() => pgTarget(st), { code: 'E_CONFIG', message: /password_file: .* is empty/ });
  if (process.getuid?.() !== 0) {
    writeFileSync(file, 'x\n');
    chmodSync(file, 0o000);
    t.throws(() => pgTarget(st), { code: 'E_CONFIG', message: /EACCES/ });
  }
  const tls = postgresStore(validateConfig(minimal({ ...pg, tls: { ca_file: join(dir, 'ca.pem') } })))!;
  t.throws(() => pgTarget(tls), { code: 'E_CONFIG', message: /authority\.store\.tls\.ca_file: cannot read/ });
});

t.test('the CLI waits for the leader at least 15 s, and past stall_timeout', async (t) => {
  t.equal(leaderWaitMs(postgresStore(validateConfig(minimal(pg)))!), 15_000, 'the default stall_timeout (10 s)');
  t.equal(leaderWaitMs(postgresStore(validateConfig(minimal({ ...pg, stall_timeout: '30s' })))!), 35_000, 'a deposition takes stall_timeout');
});
