// Opening and closing the process's resources, shared by the server entry point, the CLI
// and the tests that start real processes.
import fs from 'node:fs';
import type { RedisClient } from '@tessera/verifier/internal';
import { systemClock, type Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { Db } from './db/db.ts';
import { migrate } from './db/migrate.ts';
import { ownerOnlyUmask, restrictToOwner } from './db/owner-only.ts';
import { createPostgresDb } from './db/postgres.ts';
import { KeyStore } from './keys/key-store.ts';
import { retiredKeyGraceSeconds } from './keys/rotation.ts';
import type { Logger } from './logger.ts';
import type { Denylist } from './revocation/denylist.ts';
import { MemoryDenylist } from './revocation/memory-denylist.ts';
import { RedisDenylist } from './revocation/redis-denylist.ts';
import { revocationsFromSql, seedDenylistFromSql } from './revocation/seed-from-sql.ts';
import { SqlRevocationOutbox } from './revocation/sql-outbox.ts';
import { redisConnection } from './redis-connection.ts';
import { checkRedisAtStart } from './redis-start-check.ts';
import { SessionPurger } from './sessions/purge.ts';
import { atStart, passwordOf, withoutPassword } from './startup-error.ts';
import { closeRateLimitRedis, openRateLimitRedis } from './throttle/redis-client.ts';

/**
 * The database, reachable: PostgreSQL (DATABASE_URL) is pinged so a wrong URL fails here,
 * naming the variable. The embedded one's folder is made owner-only (see db/owner-only.ts);
 * `logger` hears how many entries of an existing folder had to be repaired.
 */
export async function openDb(config: Config, logger?: Logger): Promise<Db> {
  const url = config.databaseUrl;
  if (url) {
    const db = createPostgresDb({ url, poolSize: config.databasePoolSize });
    try {
      await atStart('DATABASE_URL', withoutPassword(url), () => db.ping(), [passwordOf(url)]);
    } catch (err) {
      await db.close().catch(() => {});
      throw err;
    }
    return db;
  }
  // Before PGlite creates anything, and for as long as it runs (it adds WAL segments later).
  ownerOnlyUmask();
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  repairFolder(config.dataDir, logger);
  // Loaded only here: a replica on PostgreSQL never holds PGlite's code.
  const { createPgliteDb } = await import('./db/pglite.ts');
  return createPgliteDb(config.dataDir);
}

/** restrictToOwner() with one warning line when anything had to change (no file names: the count and the folder). */
function repairFolder(dir: string, logger: Logger | undefined): void {
  const fixed = restrictToOwner(dir);
  if (fixed === 0) return;
  logger?.warn(
    { event: 'data.permissions_repaired', dir, fixed },
    `${fixed} entries under ${dir} were open to other users; made them owner-only (0700 folders, 0600 files)`,
  );
}

export async function openKeyStore(config: Config, clock: Clock, logger: Logger): Promise<KeyStore> {
  return KeyStore.open({
    dir: config.keysDir,
    modulusLength: config.keySize,
    clock,
    logger,
    retiredKeyGraceSeconds: retiredKeyGraceSeconds(config.accessTokenTtl),
  });
}

/**
 * Redis when REDIS_URL or REDIS_SENTINELS is set (every replica shares it), in-process memory
 * otherwise. A Redis outage at start does not fail startup: the denylist starts degraded and catches up.
 */
export async function openDenylist(config: Config, clock: Clock, logger: Logger, db?: Db): Promise<Denylist> {
  const denylist = config.redis
    ? new RedisDenylist({
        redis: redisConnection(config.redis),
        keyPrefix: config.redisKeyPrefix,
        clock,
        logger,
        writeTimeoutMs: config.revocationWriteTimeoutMs,
        // A Redis that comes back empty (or a promoted replica that lags) gets every revocation
        // that can still matter from SQL, as at start, without waiting for a replica restart.
        ...(db ? { sqlOutbox: new SqlRevocationOutbox(db), reseed: () => revocationsFromSql(db, clock.now(), config.accessTokenTtl) } : {}),
      })
    : new MemoryDenylist(clock, db ? { db } : {});
  await denylist.start();
  return denylist;
}

/**
 * Puts the revocations SQL knows about back into the denylist at start: the in-memory one
 * forgets everything on restart, and a Redis without persistence can lose them too.
 */
async function seedRevocations(db: Db, denylist: Denylist, clock: Clock, config: Config, logger: Logger): Promise<void> {
  try {
    const count = await seedDenylistFromSql(db, denylist, clock.now(), config.accessTokenTtl);
    if (count > 0) logger.info({ event: 'denylist.seeded', count }, 'recent revocations restored from SQL');
  } catch (err) {
    // Redis down: the entries sit in the denylist's outbox and are retried; not fatal.
    logger.warn({ event: 'denylist.seed_incomplete', err: (err as Error).message }, 'could not confirm every restored revocation');
  }
}

/** Migrations run by DATABASE_URL's user, so a refusal (a missing privilege) names it too. */
async function migrateAtStart(db: Db, config: Config): Promise<string[]> {
  const url = config.databaseUrl;
  if (!url) return migrate(db);
  return atStart('DATABASE_URL', withoutPassword(url), () => migrate(db), [passwordOf(url)]);
}

export interface Runtime {
  db: Db;
  keys: KeyStore;
  denylist: Denylist;
  clock: Clock;
  /** Rate-limit counters shared by the replicas; only with Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES) and RATE_LIMIT_ENABLED. */
  redis?: RedisClient;
  close(): Promise<void>;
}

export async function openRuntime(config: Config, logger: Logger, clock: Clock = systemClock): Promise<Runtime> {
  // First, as it opens nothing that would need closing: a Redis that refuses our settings.
  if (config.redis) await checkRedisAtStart(config.redis, logger);
  const db = await openDb(config, logger);
  // The .eml files hold reset and verification links (already owner-only unless written before).
  if (!config.mail.smtpUrl) repairFolder(config.mail.dir, logger);
  try {
    const applied = await migrateAtStart(db, config);
    if (applied.length > 0) logger.info({ event: 'db.migrated', versions: applied, kind: db.kind }, 'database migrated');
    const keys = await openKeyStore(config, clock, logger);
    keys.startAutoReload(config.keysReloadInterval * 1000);
    const denylist = await openDenylist(config, clock, logger, db);
    await seedRevocations(db, denylist, clock, config, logger);
    const redis = config.redis && config.rateLimit.enabled ? openRateLimitRedis(redisConnection(config.redis)) : undefined;
    const purger = new SessionPurger(db, clock, logger, {
      retentionSeconds: config.sessionRetention,
      graceSeconds: config.refreshGracePeriod,
      intervalSeconds: config.sessionPurgeInterval,
    });
    purger.start();
    return {
      db,
      keys,
      denylist,
      clock,
      ...(redis ? { redis } : {}),
      async close() {
        await purger.close();
        keys.close();
        if (redis) await closeRateLimitRedis(redis);
        await denylist.close();
        await db.close();
      },
    };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}
