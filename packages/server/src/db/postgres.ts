import pg from 'pg';
import { InfrastructureError } from '../infrastructure-error.ts';
import { ADVISORY_LOCK_SQL, type Db, type Queryable, type Row } from './db.ts';

// int8 (COUNT, BIGINT) as a JS number: our counters are far below 2^53.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

export interface PostgresOptions {
  url: string;
  poolSize?: number;
  /** Schema to use as search_path; tests give every file its own. */
  schema?: string;
}

/**
 * PostgreSQL down, restarting or out of connections, as node-postgres reports it: a socket
 * error code, SQLSTATE class 08 (connection exception), 57P01-03 (shutdown), 53300 (too
 * many connections), or, for a connection lost mid-query, only a message (pg gives no code).
 * Knowing the driver's messages is this adapter's job; callers see an InfrastructureError.
 */
function isConnectionFailure(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; errors?: unknown[] } | null;
  if (!e || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE'].includes(code)) return true;
  if (/^08/.test(code) || /^57P0[1-3]$/.test(code) || code === '53300') return true;
  const message = typeof e.message === 'string' ? e.message : '';
  if (/Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message)) return true;
  return Array.isArray(e.errors) && e.errors.some(isConnectionFailure);
}

/** A connection failure becomes an InfrastructureError('sql') (the driver's error its cause); anything else is rethrown as it is. */
function classified(err: unknown): unknown {
  if (err instanceof InfrastructureError || !isConnectionFailure(err)) return err;
  return new InfrastructureError('sql', 'PostgreSQL is unreachable', { cause: err });
}

const rethrowClassified = (err: unknown): never => {
  throw classified(err);
};

export function createPostgresDb(options: PostgresOptions): Db {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5_000,
    ...(options.schema ? { options: `-c search_path=${quoteIdent(options.schema)}` } : {}),
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});

  const run = async <T extends Row>(client: pg.Pool | pg.PoolClient, sql: string, params?: unknown[]) =>
    (await client.query<T>(sql, params as unknown[]).catch(rethrowClassified)).rows;

  return {
    kind: 'postgres',
    query: (sql, params) => run(pool, sql, params),
    async exec(sql) {
      await pool.query(sql).catch(rethrowClassified);
    },
    async transaction(work) {
      const client = await pool.connect().catch(rethrowClassified);
      const tx: Queryable = {
        query: (sql, params) => run(client, sql, params),
        async exec(sql) {
          await client.query(sql);
        },
      };
      try {
        await client.query('BEGIN');
        const result = await work(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw classified(err);
      } finally {
        client.release();
      }
    },
    async withAdvisoryLock(classId, work, options = {}) {
      const client = await pool.connect().catch(rethrowClassified);
      let broken = false;
      try {
        const [row] = (await client.query<{ locked: boolean }>(options.wait ? ADVISORY_LOCK_SQL.lock : ADVISORY_LOCK_SQL.tryLock, [classId])).rows;
        if (!row?.locked) return { acquired: false };
        try {
          return { acquired: true, value: await work() };
        } finally {
          // A connection that cannot unlock is thrown away: closing it releases the lock.
          await client.query(ADVISORY_LOCK_SQL.unlock, [classId]).catch(() => (broken = true));
        }
      } catch (err) {
        broken = true;
        throw classified(err);
      } finally {
        client.release(broken);
      }
    },
    async ping() {
      await pool.query('SELECT 1').catch(rethrowClassified);
    },
    async close() {
      await pool.end();
    },
  };
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
