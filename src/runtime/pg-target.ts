// authority.store (kind postgres) as a connection target: the password read from its file,
// TLS files read, and the replica's name. Bad files are refused with the setting they came from.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { ConnectionOptions } from 'node:tls';
import type { Config, PostgresStoreConfig } from '../core/config.js';
import { UpshiftError } from '../core/errors.js';
import type { PgTarget } from '../adapters/postgres/connect.js';

function readSetting(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UpshiftError('E_CONFIG', `${setting}: cannot read ${path} (${why})`, { cause: err, details: { setting, path } });
  }
}

/** The postgres store of an authority config, or null for sqlite (and for a node without authority). */
export function postgresStore(config: Config): PostgresStoreConfig | null {
  const st = config.authority?.store;
  return st?.kind === 'postgres' ? st : null;
}

/**
 * How long a CLI waits for the leader to carry out a queued command: at least 15 s, and past
 * `stall_timeout`, so a command sent while a stalled leader is being deposed is still taken.
 */
export function leaderWaitMs(st: PostgresStoreConfig): number {
  return Math.max(15_000, st.stall_timeout + 5_000);
}

export function pgTarget(st: PostgresStoreConfig, applicationName?: string): PgTarget {
  let password: string | undefined;
  if (st.password_file) {
    password = readSetting(st.password_file, 'authority.store.password_file').split('\n')[0]?.trimEnd() ?? '';
    if (password === '') throw new UpshiftError('E_CONFIG', `authority.store.password_file: ${st.password_file} is empty`);
  }
  let ssl: ConnectionOptions | undefined;
  if (st.tls) {
    const t = st.tls;
    ssl = {
      rejectUnauthorized: true,
      ...(t.ca_file ? { ca: readSetting(t.ca_file, 'authority.store.tls.ca_file') } : {}),
      ...(t.cert_file ? { cert: readSetting(t.cert_file, 'authority.store.tls.cert_file') } : {}),
      ...(t.key_file ? { key: readSetting(t.key_file, 'authority.store.tls.key_file') } : {}),
      ...(t.servername ? { servername: t.servername } : {}),
    };
  }
  return {
    hosts: st.hosts, database: st.database, user: st.user,
    ...(password === undefined ? {} : { password }),
    ...(ssl ? { ssl } : {}),
    ...(applicationName ? { applicationName } : {}),
  };
}

/** This replica's name: configured, else node id, host and pid (two daemons on one host differ). */
export function replicaName(config: Config, st: PostgresStoreConfig): string {
  return st.replica ?? `${config.node.id}@${hostname()}:${process.pid}`;
}
