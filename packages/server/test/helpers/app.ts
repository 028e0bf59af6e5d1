import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildApp, type App } from '../../src/app.ts';
import { ManualClock } from '../../src/clock.ts';
import { configFrom, type Config } from '../../src/config.ts';
import type { Db } from '../../src/db/db.ts';
import { KeyStore } from '../../src/keys/key-store.ts';
import { retiredKeyGraceSeconds } from '../../src/keys/rotation.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import type { Denylist } from '../../src/revocation/denylist.ts';
import { MemoryDenylist } from '../../src/revocation/memory-denylist.ts';
import { createTestDb, type DbKind, type TestDb } from './db.ts';

/** Cheap argon2 parameters for tests that are not about hashing cost. */
export const FAST_ARGON2 = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

export interface TestAppOptions {
  db?: DbKind | TestDb;
  env?: Record<string, string>;
  config?: Partial<Config>;
  clock?: ManualClock;
  keysDir?: string;
  denylist?: Denylist;
  /** Rate-limit counters in this Redis (owned by the caller) instead of memory. */
  redis?: Redis;
  /** Level of the capturing logger; 'trace' sees everything Fastify and the services log. Default 'info'. */
  logLevel?: string;
}

export interface TestApp {
  app: App;
  fastify: FastifyInstance;
  config: Config;
  clock: ManualClock;
  db: Db;
  testDb: TestDb;
  keys: KeyStore;
  denylist: Denylist;
  /** Every log line written so far, parsed. */
  logs(): Record<string, unknown>[];
  logText(): string;
  close(): Promise<void>;
}

export function tempDir(prefix = 'tessera-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function captureLogger(level = 'info'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
}

/**
 * A fully wired app on a database of its own and a manual clock: an embedded PGlite schema (unit
 * tests) unless the test asks for `db: 'postgres'` (integration tests, *.int.test.ts).
 */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const clock = options.clock ?? new ManualClock(Date.now());
  const keysDir = options.keysDir ?? tempDir('tessera-keys-');
  // Rate limiting is off unless a test asks for it: most suites log in far more often per
  // minute from one address (127.0.0.1) than the defaults allow.
  // Mail the test lets the outbox send without an SMTP_URL goes to a folder of its own, never ./data/mail.
  const env = { KEYS_DIR: keysDir, LOG_LEVEL: 'info', RATE_LIMIT_ENABLED: 'false', MAIL_DIR: tempDir('tessera-mail-'), ...options.env };
  const config = configFrom(env, { argon2: FAST_ARGON2, ...options.config });
  const testDb = typeof options.db === 'object' ? options.db : await createTestDb(options.db ?? 'pglite');
  const { logger, lines } = captureLogger(options.logLevel);
  const keys = await KeyStore.open({ dir: config.keysDir, modulusLength: 2048, clock, logger, retiredKeyGraceSeconds: retiredKeyGraceSeconds(config.accessTokenTtl) });
  const denylist = options.denylist ?? new MemoryDenylist(clock);
  await denylist.start();
  const app = await buildApp(config, { db: testDb.db, keys, denylist, clock, logger, ...(options.redis ? { redis: options.redis } : {}) });
  await app.fastify.ready();
  return {
    app,
    fastify: app.fastify,
    config,
    clock,
    db: testDb.db,
    testDb,
    keys,
    denylist,
    logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    logText: () => lines.join('\n'),
    async close() {
      await app.fastify.close();
      await denylist.close();
      if (typeof options.db !== 'object') await testDb.drop();
    },
  };
}
