import crypto from 'node:crypto';
import { ADVISORY_LOCK_SQL, type Db } from '../../src/db/db.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createPgliteDb } from '../../src/db/pglite.ts';
import { createPostgresDb, quoteIdent } from '../../src/db/postgres.ts';

export type DbKind = 'postgres' | 'pglite';

/** The PostgreSQL the tests use: DATABASE_URL, or the local default of docs/testing.md. */
export const POSTGRES_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDb {
  db: Db;
  /** For PostgreSQL: the schema this test owns (pass it to other processes). */
  schema?: string;
  /** Opens another pool on the same schema: a second "replica". */
  openAnother(): Db;
  drop(): Promise<void>;
}

/**
 * A migrated database of its own for one test: a fresh schema in this worker's in-memory
 * PGlite, or a fresh schema in the shared PostgreSQL, dropped afterwards.
 */
export async function createTestDb(kind: DbKind): Promise<TestDb> {
  if (kind === 'pglite') return createPgliteSchema();
  const schema = `t_${crypto.randomBytes(6).toString('hex')}`;
  const admin = createPostgresDb({ url: POSTGRES_URL, poolSize: 1 });
  await admin.exec(`CREATE SCHEMA ${quoteIdent(schema)}`);
  const db = createPostgresDb({ url: POSTGRES_URL, schema, poolSize: 10 });
  await migrate(db);
  const others: Db[] = [];
  return {
    db,
    schema,
    openAnother() {
      const other = createPostgresDb({ url: POSTGRES_URL, schema, poolSize: 10 });
      others.push(other);
      return other;
    },
    async drop() {
      await Promise.all([db.close(), ...others.map((o) => o.close())]);
      await admin.exec(`DROP SCHEMA ${quoteIdent(schema)} CASCADE`);
      await admin.close();
    },
  };
}

/** A connection string whose sessions use `schema` (for child processes). */
export function urlWithSchema(schema: string): string {
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

// Starting a PGlite (compiling the WASM, initdb) costs seconds of CPU; a schema in one costs
// milliseconds. So each test worker starts ONE PGlite, kept on globalThis so that it outlives
// the test file (the unit layer runs with isolate: false), and every test database is a schema
// in it. PGlite is one session, so the schema is chosen with SET search_path under a lock of our
// own: a query of one test database can never run on another's search_path.
interface SharedPglite {
  base: Db;
  current?: string;
  tail: Promise<unknown>;
}
const SHARED = Symbol.for('tessera.test.pglite');
type WithShared = typeof globalThis & { [SHARED]?: Promise<SharedPglite> };

function sharedPglite(): Promise<SharedPglite> {
  const g = globalThis as WithShared;
  g[SHARED] ??= createPgliteDb().then((base) => ({ base, tail: Promise.resolve() }));
  return g[SHARED];
}

/** Starts this worker's shared PGlite now (the unit layer's setup file), so no test pays for it. */
export async function warmPglite(): Promise<void> {
  await sharedPglite();
}

async function createPgliteSchema(): Promise<TestDb> {
  const shared = await sharedPglite();
  const schema = `t_${crypto.randomBytes(6).toString('hex')}`;
  // One at a time, on this schema's search_path.
  const run = <T>(work: () => Promise<T>): Promise<T> => {
    const next = shared.tail.then(async () => {
      if (shared.current !== schema) {
        await shared.base.exec(`SET search_path TO ${quoteIdent(schema)}`);
        shared.current = schema;
      }
      return work();
    });
    shared.tail = next.catch(() => undefined);
    return next;
  };
  const { base } = shared;
  const db: Db = {
    kind: 'pglite',
    query: (sql, params) => run(() => base.query(sql, params)),
    exec: (sql) => run(() => base.exec(sql)),
    transaction: (work) => run(() => base.transaction(work)),
    // As createPgliteDb's: a try-lock (PGlite is one backend, the lock is re-entrant), taken
    // and released on this schema so that current_schema() names the same lock both times.
    async withAdvisoryLock(classId, work) {
      const [row] = await db.query<{ locked: boolean }>(ADVISORY_LOCK_SQL.tryLock, [classId]);
      if (!row?.locked) return { acquired: false };
      try {
        return { acquired: true, value: await work() };
      } finally {
        await db.query(ADVISORY_LOCK_SQL.unlock, [classId]);
      }
    },
    ping: async () => {
      await run(() => base.query('SELECT 1'));
    },
    close: async () => undefined,
  };
  await base.exec(`CREATE SCHEMA ${quoteIdent(schema)}`);
  await migrate(db);
  // No `schema`: no other process can reach this database.
  return {
    db,
    openAnother: () => {
      throw new Error('PGlite is single-process: use createTestDb(\'postgres\') for two replicas');
    },
    drop: () => run(() => base.exec(`DROP SCHEMA ${quoteIdent(schema)} CASCADE`)),
  };
}
