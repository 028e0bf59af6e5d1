// The lab's PostgreSQL: the machine's shared server (DATABASE_URL), never stopped by the lab.
// Each architecture that uses it gets a schema of its own, dropped at close, and tags its
// connections with an application_name, so that the lab can find their backends (whose CPU
// counts as the store's) among everyone else's.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import pg from 'pg';
import { TcpProxy } from '../../scripts/lib/tcp-proxy.ts';

export const LAB_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function withDb<T>(fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: LAB_DATABASE_URL });
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

export interface LabSchema {
  name: string;
  /** DATABASE_URL with this schema as search_path and the schema's application_name. */
  url: URL;
  /** pg_total_relation_size (table, indexes, TOAST) summed over the schema's tables, bytes. */
  tableBytes(): Promise<number>;
  /** Pids of the PostgreSQL backends serving connections made with `url` (on this machine). */
  backendPids(): Promise<number[]>;
  drop(): Promise<void>;
}

export async function createLabSchema(): Promise<LabSchema> {
  const name = `lab_${crypto.randomBytes(5).toString('hex')}`;
  await withDb((db) => db.query(`CREATE SCHEMA "${name}"`));
  const url = new URL(LAB_DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${name}`);
  url.searchParams.set('application_name', name);
  return {
    name,
    url,
    tableBytes: () =>
      withDb(async (db) => {
        const { rows } = await db.query<{ bytes: string | null }>(
          `SELECT sum(pg_total_relation_size(c.oid))::text AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
          [name],
        );
        return Number(rows[0]?.bytes ?? 0);
      }),
    backendPids: () =>
      withDb(async (db) => {
        const { rows } = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [name]);
        // A PostgreSQL on another host has no backends here to measure.
        return rows.map((r) => r.pid).filter((pid) => isPostgresProcess(pid));
      }),
    drop: () => withDb((db) => db.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)).then(() => {}),
  };
}

export interface LabPostgresSessions {
  /** What the applications connect to: DATABASE_URL with the proxy as host and the schema. */
  url: string;
  schema: LabSchema;
  /** Between the applications and PostgreSQL: the store outage cuts it (scripts/lib/tcp-proxy.ts). */
  proxy: TcpProxy;
  close(): Promise<void>;
}

/**
 * A session store in the shared PostgreSQL: a schema with connect-pg-simple's documented table
 * (its table.sql), created here once rather than by three applications racing at startup
 * (createTableIfMissing), and a proxy the applications reach it through.
 */
export async function startPostgresSessions(): Promise<LabPostgresSessions> {
  const schema = await createLabSchema();
  try {
    const tableSql = fs.readFileSync(createRequire(import.meta.url).resolve('connect-pg-simple/table.sql'), 'utf8');
    await withDb(async (db) => {
      await db.query(`SET search_path TO "${schema.name}"`);
      await db.query(tableSql);
    });
    const proxy = new TcpProxy(schema.url, 5432, 'postgres-proxy');
    await proxy.start();
    return {
      // The whole URL (user, password, database, parameters); only the address is the proxy's.
      url: proxy.url,
      schema,
      proxy,
      async close() {
        await proxy.stop();
        await schema.drop();
      },
    };
  } catch (err) {
    await schema.drop().catch(() => {});
    throw err;
  }
}

function isPostgresProcess(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
  } catch {
    return false;
  }
}
