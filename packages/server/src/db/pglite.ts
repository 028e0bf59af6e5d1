import { PGlite } from '@electric-sql/pglite';
import { lockDataDir } from './data-dir-lock.ts';
import { restrictToOwner } from './owner-only.ts';
import { ADVISORY_LOCK_SQL, type Db, type Queryable } from './db.ts';

/**
 * Embedded PostgreSQL (WASM) for the zero-configuration default. `dataDir` undefined
 * keeps everything in memory (tests). One process only: see data-dir-lock.ts.
 */
export async function createPgliteDb(dataDir?: string): Promise<Db> {
  // Before PGlite reads anything: a second process must fail here, not lose its writes later.
  const lock = dataDir ? lockDataDir(dataDir) : undefined;
  let lite: PGlite;
  try {
    lite = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
    // PGlite's Emscripten layer sets file modes itself (chmod, with its own umask of 022), so
    // the process umask does not reach them: tighten what it unpacked on a first start. The
    // folder itself stays 0700 throughout, so nobody else can reach what it writes later.
    if (dataDir) restrictToOwner(dataDir);
  } catch (err) {
    lock?.release();
    throw err;
  }
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
    // PGlite is one backend: its advisory locks work but are re-entrant, so they exclude
    // nothing by themselves. Other processes are kept out by the data-directory lock, and
    // callers keep a second run in the same process out themselves.
    async withAdvisoryLock(classId, work) {
      const [row] = (await lite.query<{ locked: boolean }>(ADVISORY_LOCK_SQL.tryLock, [classId])).rows;
      if (!row?.locked) return { acquired: false };
      try {
        return { acquired: true, value: await work() };
      } finally {
        await lite.query(ADVISORY_LOCK_SQL.unlock, [classId]);
      }
    },
    async ping() {
      await lite.query('SELECT 1');
    },
    async close() {
      try {
        await lite.close();
        // What it wrote while running (WAL segments, relation files), before the lock goes.
        if (dataDir) restrictToOwner(dataDir);
      } finally {
        lock?.release();
      }
    },
  };
}
