// Redis goes away and comes back: verification keeps working from the mirrors, a
// revocation made meanwhile is reported unconfirmed (503) but not lost, and every replica
// catches up on reconnect.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { AuthError } from '../../src/errors.ts';
import { RedisDenylist } from '../../src/revocation/redis-denylist.ts';
import { denylistKey } from '@tessera/verifier/internal';
import { captureLogger } from '../helpers/app.ts';
import { adminClient, deleteKeys, eventually, REDIS_URL, RedisProxy, uniquePrefix } from './redis-kit.ts';

const prefix = uniquePrefix('outage');
const admin = adminClient(); // direct, not through the proxy
const hour = 3_600_000;
const RECOVERY_MS = 15_000; // reconnect backoff is capped near 2 s; this bounds a slow machine

let proxy: RedisProxy;
const open: RedisDenylist[] = [];

function replica(url: string, extra: Partial<ConstructorParameters<typeof RedisDenylist>[0]> = {}): RedisDenylist {
  const denylist = new RedisDenylist({ redis: url, keyPrefix: prefix, clock: systemClock, writeTimeoutMs: 500, retryIntervalMs: 100, ...extra });
  open.push(denylist);
  return denylist;
}

beforeAll(async () => {
  proxy = new RedisProxy();
  await proxy.start();
});

afterEach(async () => {
  await proxy.restore(); // a failed test must not leave the next one cut off
});

afterAll(async () => {
  await Promise.all(open.map((d) => d.close()));
  await proxy.close();
  await deleteKeys(admin, prefix);
  await admin.quit();
});

async function expectUnavailable(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(AuthError);
  expect(error).toMatchObject({ code: 'service_unavailable', status: 503 });
}

describe('RedisDenylist during a Redis outage', () => {
  it('keeps verifying, refuses to confirm new revocations, and catches up after', async () => {
    const { logger, lines } = captureLogger();
    const a = replica(proxy.url, { logger });
    const b = replica(proxy.url);
    await a.start();
    await b.start();
    expect([a.status(), b.status()]).toEqual(['ok', 'ok']);

    await a.revoke({ kind: 'session', id: 'sess-before', until: Date.now() + hour });
    await eventually(() => b.isRevoked({ sid: 'sess-before' }), 'B sees the revocation made before the outage');

    await proxy.cut();
    await eventually(() => a.status() === 'degraded' && b.status() === 'degraded', 'both replicas report degraded', 5_000);

    // Verification is answered from the mirrors.
    expect(a.isRevoked({ sid: 'sess-before' })).toBe(true);
    expect(b.isRevoked({ sid: 'sess-before' })).toBe(true);

    // A new revocation is effective on A at once, but A cannot claim it reached B.
    await expectUnavailable(a.revoke({ kind: 'session', id: 'sess-during', until: Date.now() + hour }));
    await expectUnavailable(a.revoke({ kind: 'user', id: 'user-during', before: 2_000_000_000, until: Date.now() + hour }));
    expect(a.isRevoked({ sid: 'sess-during' })).toBe(true);
    expect(a.isRevoked({ sub: 'user-during', iat: 1_900_000_000 })).toBe(true);
    expect(b.isRevoked({ sid: 'sess-during' })).toBe(false);
    expect(a.status()).toBe('degraded');

    await proxy.restore();
    const ms = await eventually(
      () => b.isRevoked({ sid: 'sess-during' }) && b.isRevoked({ sub: 'user-during', iat: 1_900_000_000 }),
      'B receives the revocations A made during the outage',
      RECOVERY_MS,
    );
    console.log(`outbox delivered to B ${ms.toFixed(0)} ms after Redis came back`);
    await eventually(() => a.status() === 'ok' && b.status() === 'ok', 'both replicas back to ok', RECOVERY_MS);

    // The reload on reconnect did not drop anything, and Redis now holds the entry.
    expect(a.isRevoked({ sid: 'sess-during' })).toBe(true);
    expect(a.isRevoked({ sid: 'sess-before' })).toBe(true);
    expect(await admin.exists(denylistKey(prefix, { kind: 'session', id: 'sess-during' }))).toBe(1);

    const events = lines.map((l) => (JSON.parse(l) as { event?: string }).event);
    expect(events).toContain('denylist.degraded');
    expect(events).toContain('denylist.write_failed');
    expect(events.lastIndexOf('denylist.recovered')).toBeGreaterThan(events.indexOf('denylist.degraded'));
  });

  it('a replica that misses messages while cut off catches up on reconnect', async () => {
    const healthy = replica(REDIS_URL); // not behind the proxy
    const isolated = replica(proxy.url);
    await healthy.start();
    await isolated.start();

    await proxy.cut();
    await eventually(() => isolated.status() === 'degraded', 'isolated replica degraded', 5_000);
    // Written directly to Redis while the isolated replica cannot hear the message.
    await healthy.revoke({ kind: 'token', id: 'tok-missed', until: Date.now() + hour });
    expect(healthy.status()).toBe('ok');
    expect(isolated.isRevoked({ jti: 'tok-missed' })).toBe(false);

    await proxy.restore();
    await eventually(() => isolated.isRevoked({ jti: 'tok-missed' }), 'isolated replica reloads on reconnect', RECOVERY_MS);
    await eventually(() => isolated.status() === 'ok', 'isolated replica back to ok', RECOVERY_MS);
  });

  it('a write that gets no answer (half-open connection) is reported and retried on a fresh connection', async () => {
    const a = replica(proxy.url);
    const b = replica(REDIS_URL); // not behind the proxy
    await a.start();
    await b.start();

    const release = proxy.stall();
    try {
      await expectUnavailable(a.revoke({ kind: 'session', id: 'sess-stalled', until: Date.now() + hour }));
      expect(a.isRevoked({ sid: 'sess-stalled' })).toBe(true);
      // The writer drops the silent socket, reconnects through the proxy and flushes the outbox.
      await eventually(() => b.isRevoked({ sid: 'sess-stalled' }), 'B receives the stalled revocation', RECOVERY_MS);
      expect(await admin.exists(denylistKey(prefix, { kind: 'session', id: 'sess-stalled' }))).toBe(1);
    } finally {
      release();
    }
    await eventually(() => a.status() === 'ok', 'A back to ok', RECOVERY_MS);
  });

  it('starts degraded when Redis is down at start, then recovers', async () => {
    await proxy.cut();
    const late = replica(proxy.url, { startTimeoutMs: 300 });
    await late.start(); // does not throw, does not hang
    expect(late.status()).toBe('degraded');
    expect(late.isRevoked({ sid: 'sess-before' })).toBe(false); // nothing loaded yet
    await expectUnavailable(late.revoke({ kind: 'session', id: 'sess-at-start', until: Date.now() + hour }));
    expect(late.isRevoked({ sid: 'sess-at-start' })).toBe(true);

    await proxy.restore();
    await eventually(() => late.status() === 'ok', 'late replica recovers', RECOVERY_MS);
    expect(late.isRevoked({ sid: 'sess-before' })).toBe(true); // loaded from Redis
    expect(late.isRevoked({ sid: 'sess-at-start' })).toBe(true); // flushed from the outbox
    expect(await admin.exists(denylistKey(prefix, { kind: 'session', id: 'sess-at-start' }))).toBe(1);
  });
});
