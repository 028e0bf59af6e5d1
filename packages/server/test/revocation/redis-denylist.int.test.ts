// Two replicas on one Redis: what one revokes, the other knows, without a network call
// on the verification path.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { RedisDenylist } from '../../src/revocation/redis-denylist.ts';
import { DenylistMirror } from '@tessera/verifier';
import { denylistChannel, denylistKey } from '@tessera/verifier/internal';
import { syncDenylistFromRedis } from '@tessera/verifier/redis';
import { adminClient, deleteKeys, eventually, REDIS_URL, uniquePrefix } from './redis-kit.ts';

const prefix = uniquePrefix('replicas');
const admin = adminClient();
const open: { close(): Promise<void> }[] = [];
const hour = 3_600_000;

async function replica(): Promise<RedisDenylist> {
  const denylist = new RedisDenylist({ redis: REDIS_URL, keyPrefix: prefix, clock: systemClock, writeTimeoutMs: 2_000 });
  open.push(denylist);
  await denylist.start();
  return denylist;
}

let a: RedisDenylist;
let b: RedisDenylist;

beforeAll(async () => {
  a = await replica();
  b = await replica();
});

afterEach(() => {
  expect(a.status()).toBe('ok');
  expect(b.status()).toBe('ok');
});

afterAll(async () => {
  await Promise.all(open.map((o) => o.close()));
  await deleteKeys(admin, prefix);
  await admin.quit();
});

describe('RedisDenylist across replicas', () => {
  it('a revocation on A is visible on B', async () => {
    expect(b.isRevoked({ sid: 'sess-a1' })).toBe(false);
    await a.revoke({ kind: 'session', id: 'sess-a1', until: Date.now() + hour });
    const ms = await eventually(() => b.isRevoked({ sid: 'sess-a1' }), 'B sees the session revoked on A', 5_000);
    console.log(`denylist propagation A -> B: ${ms.toFixed(1)} ms`);

    const iat = Math.floor(Date.now() / 1000) - 5;
    await b.revoke({ kind: 'user', id: 'user-b1', before: iat + 1, until: Date.now() + hour });
    await b.revoke({ kind: 'token', id: 'tok-b1', until: Date.now() + hour });
    await eventually(() => a.isRevoked({ sub: 'user-b1', iat }) && a.isRevoked({ jti: 'tok-b1' }), 'A sees user cut-off and token from B', 5_000);
    expect(a.isRevoked({ sub: 'user-b1', iat: iat + 1 })).toBe(false);
  });

  it('an instance started later loads the existing entries', async () => {
    await a.revoke({ kind: 'session', id: 'sess-early', until: Date.now() + hour });
    await a.revoke({ kind: 'user', id: 'user-early', before: 2_000_000_000, until: Date.now() + hour });
    const late = await replica();
    // start() resolves after the full load: no polling needed.
    expect(late.status()).toBe('ok');
    expect(late.isRevoked({ sid: 'sess-early' })).toBe(true);
    expect(late.isRevoked({ sub: 'user-early', iat: 1_900_000_000 })).toBe(true);
    expect(late.size()).toBe(a.size());
  });

  it('stores one key per entry, with a TTL ending at `until`', async () => {
    const until = Date.now() + 120_000;
    await a.revoke({ kind: 'token', id: 'tok-ttl', until });
    const key = denylistKey(prefix, { kind: 'token', id: 'tok-ttl' });
    expect(JSON.parse((await admin.get(key)) ?? 'null')).toEqual({ kind: 'token', id: 'tok-ttl', until });
    expect(await admin.pexpiretime(key)).toBe(until);
    const pttl = await admin.pttl(key);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(120_000);
  });

  it('keeps the latest cut-off and the longest `until` in Redis too', async () => {
    const until = Date.now() + hour;
    await a.revoke({ kind: 'user', id: 'user-max', before: 2_000, until });
    await b.revoke({ kind: 'user', id: 'user-max', before: 1_000, until: until - 1_000 });
    const stored = JSON.parse((await admin.get(denylistKey(prefix, { kind: 'user', id: 'user-max' }))) ?? 'null');
    expect(stored).toMatchObject({ kind: 'user', id: 'user-max', before: 2_000, until });
    expect(b.isRevoked({ sub: 'user-max', iat: 1_500 })).toBe(true);
  });

  it('ignores malformed messages and stored values, and keeps working', async () => {
    const channel = denylistChannel(prefix);
    const junk = [
      'not json',
      'null',
      '[]',
      '{"kind":"session"}',
      '{"kind":"session","id":"","until":9999999999999}',
      '{"kind":"user","id":"user-junk","until":9999999999999}',
      '{"kind":"group","id":"x","until":9999999999999}',
      '{"kind":"token","id":"tok-junk","until":"soon"}',
    ];
    for (const message of junk) await admin.publish(channel, message);
    await admin.set(`${prefix}{revocations}:deny:session:junk`, 'garbage', 'PX', 60_000);

    await a.revoke({ kind: 'session', id: 'sess-after-junk', until: Date.now() + hour });
    await eventually(() => b.isRevoked({ sid: 'sess-after-junk' }), 'B still applies messages after junk', 5_000);
    expect(b.isRevoked({ sub: 'user-junk', iat: 1 })).toBe(false);
    expect(b.isRevoked({ jti: 'tok-junk' })).toBe(false);

    const late = await replica();
    expect(late.status()).toBe('ok');
    expect(late.isRevoked({ sid: 'sess-after-junk' })).toBe(true);
    expect(late.isRevoked({ sid: 'junk' })).toBe(false);
  });
});

describe('syncDenylistFromRedis (verifier library)', () => {
  it('fills a mirror from Redis and follows changes', async () => {
    await a.revoke({ kind: 'session', id: 'sess-lib-1', until: Date.now() + hour });
    const mirror = new DenylistMirror();
    const changes: string[] = [];
    const sync = syncDenylistFromRedis({ redis: REDIS_URL, keyPrefix: prefix, mirror, onChange: (s) => changes.push(s) });
    open.push(sync);
    await sync.ready;
    expect(sync.status()).toBe('ok');
    expect(changes).toEqual(['ok']);
    expect(mirror.isRevoked({ sid: 'sess-lib-1' }, Date.now())).toBe(true);

    await b.revoke({ kind: 'token', id: 'tok-lib-2', until: Date.now() + hour });
    await eventually(() => mirror.isRevoked({ jti: 'tok-lib-2' }, Date.now()), 'library mirror follows', 5_000);

    await sync.close();
    expect(sync.status()).toBe('degraded');
  });

  it('rejects `ready` when closed before the first load', async () => {
    const sync = syncDenylistFromRedis({ redis: 'redis://127.0.0.1:1', keyPrefix: prefix, mirror: new DenylistMirror() });
    expect(sync.status()).toBe('degraded');
    await sync.close();
    await expect(sync.ready).rejects.toThrow(/closed/);
  });
});
