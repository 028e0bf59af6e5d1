// The sql-store contract on PostgreSQL, and what only PostgreSQL (several replicas) can show.
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import { createPostgresDb, quoteIdent } from '../../src/db/postgres.ts';
import { POSTGRES_URL } from '../helpers/db.ts';
import { sqlStoreContract } from './sql-store.contract.ts';

sqlStoreContract('postgres');

describe('migrations on PostgreSQL', () => {
  it('are applied exactly once when several replicas start at the same moment', async () => {
    const schema = `t_${crypto.randomBytes(6).toString('hex')}`;
    const admin = createPostgresDb({ url: POSTGRES_URL, poolSize: 1 });
    await admin.exec(`CREATE SCHEMA ${quoteIdent(schema)}`);
    const replicas = Array.from({ length: 4 }, () => createPostgresDb({ url: POSTGRES_URL, schema, poolSize: 1 }));
    try {
      const results = await Promise.all(replicas.map((r) => migrate(r)));
      expect(results.filter((applied) => applied.length > 0)).toHaveLength(1);
      const rows = await replicas[0]!.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
      expect(rows[0]!.n).toBe(results.find((r) => r.length > 0)!.length);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
      await admin.exec(`DROP SCHEMA ${quoteIdent(schema)} CASCADE`);
      await admin.close();
    }
  });
});
