import pg from 'pg';
import { ADVISORY_LOCK_SQL, type Db, type Queryable, type Row } from './db.ts';

// int8 (COUNT, BIGINT) as a JS number: our counters are far below 2^53.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

export interface PostgresOptions {
  url: string;
  poolSize?: number;
  /** Schema to use as search_path; tests give every file its own. */
  schema?: string;
}

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
    (await client.query<T>(sql, params as unknown[])).rows;

  return {
    kind: 'postgres',
    query: (sql, params) => run(pool, sql, params),
    async exec(sql) {
      await pool.query(sql);
    },
    async transaction(work) {
      const client = await pool.connect();
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
        throw err;
      } finally {
        client.release();
      }
    },
    async withAdvisoryLock(classId, work, options = {}) {
      const client = await pool.connect();
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
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      await pool.end();
    },
  };
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
