import crypto from 'node:crypto';
import type { Db } from '../../src/db/db.ts';
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
 * A migrated database of its own for one test file: a fresh in-memory PGlite, or a fresh
 * schema in the shared PostgreSQL, dropped afterwards.
 */
export async function createTestDb(kind: DbKind): Promise<TestDb> {
  if (kind === 'pglite') {
    const db = await createPgliteDb();
    await migrate(db);
    return {
      db,
      openAnother: () => {
        throw new Error('PGlite is single-process');
      },
      drop: () => db.close(),
    };
  }
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
