// Opening and closing the process's resources, shared by the server entry point, the CLI
// and the tests that start real processes.
import fs from 'node:fs';
import { systemClock, type Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { Db } from './db/db.ts';
import { migrate } from './db/migrate.ts';
import { createPgliteDb } from './db/pglite.ts';
import { createPostgresDb } from './db/postgres.ts';
import { KeyStore } from './keys/key-store.ts';
import type { Logger } from './logger.ts';
import type { Denylist } from './revocation/denylist.ts';
import { MemoryDenylist } from './revocation/memory-denylist.ts';

export async function openDb(config: Config): Promise<Db> {
  if (config.databaseUrl) return createPostgresDb({ url: config.databaseUrl, poolSize: config.databasePoolSize });
  fs.mkdirSync(config.dataDir, { recursive: true });
  return createPgliteDb(config.dataDir);
}

export async function openKeyStore(config: Config, clock: Clock, logger: Logger): Promise<KeyStore> {
  return KeyStore.open({
    dir: config.keysDir,
    modulusLength: config.keySize,
    clock,
    logger,
    retiredKeyGraceSeconds: config.accessTokenTtl + 60,
  });
}

export async function openDenylist(config: Config, clock: Clock, _logger: Logger): Promise<Denylist> {
  const denylist = new MemoryDenylist(clock);
  await denylist.start();
  return denylist;
}

export interface Runtime {
  db: Db;
  keys: KeyStore;
  denylist: Denylist;
  clock: Clock;
  close(): Promise<void>;
}

export async function openRuntime(config: Config, logger: Logger, clock: Clock = systemClock): Promise<Runtime> {
  const db = await openDb(config);
  try {
    const applied = await migrate(db);
    if (applied.length > 0) logger.info({ event: 'db.migrated', versions: applied, kind: db.kind }, 'database migrated');
    const keys = await openKeyStore(config, clock, logger);
    const denylist = await openDenylist(config, clock, logger);
    return {
      db,
      keys,
      denylist,
      clock,
      async close() {
        await denylist.close();
        await db.close();
      },
    };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}
