// node-postgres has no multi-host failover: walk the configured hosts in order and keep the
// first that accepts writes (`pg_is_in_recovery()` false). A standby is never written to.
import pg from 'pg';
import { UpshiftError } from '../../core/errors.js';

export interface PgTarget {
  /** `host`, `host:port`, or a unix socket directory (`/run/postgresql`). */
  hosts: string[];
  database: string;
  user: string;
  password?: string;
  ssl?: pg.ClientConfig['ssl'];
  /** Names the connection in pg_stat_activity (the replica's id). */
  applicationName?: string;
  connectTimeoutMs?: number;
}

function endpoint(spec: string): { host: string; port: number } {
  if (spec.startsWith('/')) return { host: spec, port: 5432 };
  const m = /^(.*?)(?::(\d+))?$/.exec(spec) as RegExpExecArray;
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 5432 };
}

/** What node-postgres needs to reach one host of the target. */
function clientConfig(target: PgTarget, spec: string): pg.ClientConfig {
  return {
    ...endpoint(spec),
    database: target.database,
    user: target.user,
    ...(target.password === undefined ? {} : { password: target.password }),
    ...(target.ssl === undefined ? {} : { ssl: target.ssl }),
    application_name: target.applicationName ?? 'upshift',
    connectionTimeoutMillis: target.connectTimeoutMs ?? 5000,
  };
}

/** A connected client on the writable primary; E_STORE_UNAVAILABLE naming every host's reason. */
export async function connectPrimary(target: PgTarget): Promise<pg.Client> {
  return (await findPrimary(target)).client;
}

/**
 * A pool on the writable primary (found by the same walk) and a client of it, connected.
 * The pool reaches that host only: after a failover the store is opened again.
 */
export async function primaryPool(target: PgTarget, max = 10): Promise<{ pool: pg.Pool; client: pg.Client }> {
  const { client, spec } = await findPrimary(target);
  const pool = new pg.Pool({ ...clientConfig(target, spec), max });
  pool.on('error', () => { /* an idle client dropped: the next query gets a fresh one */ });
  return { pool, client };
}

async function findPrimary(target: PgTarget): Promise<{ client: pg.Client; spec: string }> {
  const reasons: string[] = [];
  for (const spec of target.hosts) {
    const client = new pg.Client(clientConfig(target, spec));
    client.on('error', () => { /* a dropped session surfaces on the next query */ });
    try {
      await client.connect();
      const { rows } = await client.query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby');
      if (!rows[0]?.standby) return { client, spec };
      reasons.push(`${spec}: a standby (read-only)`);
    } catch (err) {
      reasons.push(`${spec}: ${(err as Error).message}`);
    }
    await client.end().catch(() => undefined);
  }
  throw new UpshiftError('E_STORE_UNAVAILABLE', `no writable PostgreSQL primary among ${target.hosts.length} host(s): ${reasons.join('; ')}`,
    { details: { hosts: target.hosts, reasons } });
}
