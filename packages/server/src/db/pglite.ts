import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import v8 from 'node:v8';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import { lockDataDir } from './data-dir-lock.ts';
import { restrictToOwner } from './owner-only.ts';
import { ADVISORY_LOCK_SQL, type Db, type Queryable } from './db.ts';

// Memory (docs/performance.md, "Footprint"). PGlite's WebAssembly memory only grows, so
// whatever PostgreSQL touches once stays resident for the life of the process:
// - shared_buffers: PostgreSQL's default 128 MB is allocated (and touched) inside that
//   memory at every start; Tessera's embedded data set is small, 16 MB is plenty. Passed at
//   each start, not written to postgresql.conf, so the folder is the same as before.
// - initdb, on a first start, runs a second PGlite instance and initdb's own WebAssembly
//   module, several hundred MB that would never be returned: it runs in a short-lived child
//   process instead, which exits (and so gives it all back) before this process opens the
//   folder, as on any later start.
// - V8 compiles PGlite's 9 MB WebAssembly module with its baseline compiler (Liftoff), then
//   recompiles hot functions with its optimising one (TurboFan): that second copy and the
//   compiler's own memory cost about 60 MB resident, for no gain at the embedded default's
//   load (measured: fewer CPU ms per query with Liftoff only, as nothing is spent
//   recompiling). The flag applies to WebAssembly compiled from then on; only PGlite's is.
const LIFTOFF_ONLY = '--liftoff-only';
const OPTIONS: PGliteOptions = { startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'] };

/**
 * Creates the database in `dataDir` (PGlite's own initdb, the same PGlite and options as
 * createPgliteDb, then a clean shutdown) in a child process. The caller holds the folder's
 * lock, so no other process can start meanwhile; the child takes no lock of its own.
 */
async function initdbInChild(dataDir: string): Promise<void> {
  // It ends itself when this process dies (its stdin closes), so a killed server leaves no
  // initdb running on a folder the next process may take over.
  const script = `process.stdin.on('end', () => process.exit(1)).resume();
    const { PGlite } = require(process.argv[1]);
    PGlite.create(process.argv[2], JSON.parse(process.argv[3])).then((db) => db.close()).then(() => process.exit(0)).catch((err) => { console.error(err); process.exit(1); });`;
  // The CommonJS entry of the very package this module imports (one install, one version).
  const pglite = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [LIFTOFF_ONLY, '-e', script, pglite, dataDir, JSON.stringify(OPTIONS)], { maxBuffer: 4 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`initdb of the embedded database in ${dataDir} failed: ${stderr.trim().split('\n').slice(-3).join(' ') || err.message}`));
      else resolve();
    });
  });
}

/**
 * Embedded PostgreSQL (WASM) for the zero-configuration default. `dataDir` undefined
 * keeps everything in memory (tests). One process only: see data-dir-lock.ts.
 */
export async function createPgliteDb(dataDir?: string): Promise<Db> {
  // Before PGlite reads anything: a second process must fail here, not lose its writes later.
  const lock = dataDir ? lockDataDir(dataDir) : undefined;
  let lite: PGlite;
  try {
    // The server's process (a folder); tests' in-memory instances keep V8's defaults.
    if (dataDir) v8.setFlagsFromString(LIFTOFF_ONLY);
    if (dataDir && !fs.existsSync(path.join(dataDir, 'PG_VERSION'))) await initdbInChild(dataDir);
    lite = dataDir ? await PGlite.create(dataDir, OPTIONS) : await PGlite.create(OPTIONS);
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
