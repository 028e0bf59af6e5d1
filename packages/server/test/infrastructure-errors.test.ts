// The adapters say which service failed by type: a PostgreSQL failure is an
// InfrastructureError('sql'), a Redis one an InfrastructureError('redis'), each with the
// driver's error as its cause. Nothing listens on the ports used: no server is needed.
import { describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.ts';
import { createPostgresDb } from '../src/db/postgres.ts';
import { AuthError } from '../src/errors.ts';
import { InfrastructureError, isInfrastructureError } from '../src/infrastructure-error.ts';
import { RedisDenylist } from '../src/revocation/redis-denylist.ts';
import { RedisRevocationLog } from '../src/revocation/redis-log.ts';
import { freePort } from './helpers/process.ts';

const causeCode = (err: unknown) => ((err as { cause?: { code?: string } }).cause?.code ?? '');

describe('infrastructure errors, told apart by type', () => {
  it('PostgreSQL unreachable: every entry point of the adapter raises InfrastructureError("sql")', async () => {
    const db = createPostgresDb({ url: `postgres://postgres@127.0.0.1:${await freePort()}/test`, poolSize: 1 });
    try {
      const failures = await Promise.all([
        db.query('SELECT 1').catch((e: unknown) => e),
        db.transaction((tx) => tx.query('SELECT 1')).catch((e: unknown) => e),
        db.withAdvisoryLock(1, async () => 1).catch((e: unknown) => e),
        db.ping!().catch((e: unknown) => e),
      ]);
      for (const err of failures) {
        expect(err).toBeInstanceOf(InfrastructureError);
        expect(isInfrastructureError(err, 'sql')).toBe(true);
        expect(isInfrastructureError(err, 'redis')).toBe(false);
        expect(causeCode(err)).toContain('ECONNREFUSED');
      }
    } finally {
      await db.close();
    }
  });

  it('Redis unreachable: a revoke answers 503 whose cause is InfrastructureError("redis")', async () => {
    const denylist = new RedisDenylist({ redis: `redis://127.0.0.1:${await freePort()}`, clock: systemClock, writeTimeoutMs: 200, startTimeoutMs: 200 });
    await denylist.start();
    try {
      const err = await denylist.revoke({ kind: 'session', id: 'sid-1', until: Date.now() + 60_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthError);
      expect((err as AuthError).code).toBe('service_unavailable');
      const cause = (err as AuthError).cause;
      expect(isInfrastructureError(cause, 'redis')).toBe(true);
      expect(isInfrastructureError(cause, 'sql')).toBe(false);
    } finally {
      await denylist.close();
    }
  });

  it('the Redis revocation log without a connection raises InfrastructureError("redis")', async () => {
    const log = new RedisRevocationLog({ redis: 'redis://127.0.0.1:1', prefix: 't:', clock: systemClock, connection: () => undefined });
    const err = await log.read(undefined, 10).catch((e: unknown) => e);
    expect(isInfrastructureError(err, 'redis')).toBe(true);
  });
});
