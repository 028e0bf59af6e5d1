import { PGlite } from '@electric-sql/pglite';
import type { Db, Queryable } from './db.ts';

/**
 * Embedded PostgreSQL (WASM) for the zero-configuration default. `dataDir` undefined
 * keeps everything in memory (tests).
 */
export async function createPgliteDb(dataDir?: string): Promise<Db> {
  const lite = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
  const toQueryable = (target: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query(sql, params) {
      const result = await target.query(sql, params as unknown[]);
      return result.rows as never;
    },
    async exec(sql) {
      await target.exec(sql);
    },
  });
  return {
    kind: 'pglite',
    ...toQueryable(lite),
    transaction: (work) => lite.transaction((tx) => work(toQueryable(tx))),
    async ping() {
      await lite.query('SELECT 1');
    },
    async close() {
      await lite.close();
    },
  };
}
