// Redis replication is asynchronous: in a Sentinel failover the promoted replica can lack the
// last writes the old primary confirmed. The denylist remembers what Redis confirmed lately
// and writes it again when it finds itself talking to another server (another run_id).
// Simulated deterministically: a proxy moves the writer from server A to a fresh server B.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisServer, skipUnless } from '../../../../test/lib/requirements.ts';
import { systemClock } from '../../src/clock.ts';
import type { Logger } from '../../src/logger.ts';
import { RedisDenylist } from '../../src/revocation/redis-denylist.ts';
import { denylistKey } from '@tessera/verifier/internal';
import { REDIS_SERVER_BIN, startRedisNode, type RedisNode } from '../sentinel/sentinel-kit.ts';
import { eventually, RedisProxy, uniquePrefix } from './redis-kit.ts';

const hour = 3_600_000;

skipUnless(redisServer)('RedisDenylist after a switch to another Redis server', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-replay-'));
  const prefix = uniquePrefix('replay');
  const events: string[] = [];
  const logger = { info: () => {}, error: () => {}, warn: (fields: { event: string }) => events.push(fields.event) } as unknown as Logger;
  let a: RedisNode;
  let b: RedisNode;
  let proxy: RedisProxy;
  let denylist: RedisDenylist;
  const clients: Redis[] = [];
  const client = (node: RedisNode) => {
    const c = new Redis({ host: '127.0.0.1', port: node.port, maxRetriesPerRequest: 1 });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const config = ['save ""', 'appendonly no'];
    [a, b] = await Promise.all([startRedisNode(REDIS_SERVER_BIN, dir, 'a', config), startRedisNode(REDIS_SERVER_BIN, dir, 'b', config)]);
    proxy = new RedisProxy(new URL(`redis://127.0.0.1:${a.port}`));
    await proxy.start();
    denylist = new RedisDenylist({ redis: proxy.url, keyPrefix: prefix, clock: systemClock, writeTimeoutMs: 1_000, retryIntervalMs: 100, logger });
    await denylist.start();
  }, 30_000);

  afterAll(async () => {
    await denylist?.close();
    await proxy?.close();
    for (const c of clients) c.disconnect();
    await Promise.all([a?.kill(), b?.kill()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes the revocations it confirmed lately again on the new server, and not after a plain reconnect', async () => {
    const now = Date.now();
    const entries = [
      { kind: 'session' as const, id: 's-1', until: now + hour },
      { kind: 'token' as const, id: 't-1', until: now + hour },
      { kind: 'user' as const, id: 'u-1', before: Math.floor(now / 1000), until: now + hour },
    ];
    for (const entry of entries) await denylist.revoke(entry);
    const onA = client(a);
    for (const entry of entries) expect(await onA.get(denylistKey(prefix, entry))).not.toBeNull();

    // A reconnect to the same server: nothing is lost there, nothing is replayed.
    await proxy.cut();
    await proxy.restore();
    await eventually(() => denylist.status() === 'ok', 'the denylist to reconnect to A');
    expect(events).not.toContain('denylist.replay');

    // "Failover": B never got A's writes.
    await proxy.cut();
    proxy.retarget(new URL(`redis://127.0.0.1:${b.port}`));
    await proxy.restore();
    const onB = client(b);
    await eventually(async () => (await onB.exists(...entries.map((e) => denylistKey(prefix, e)))) === entries.length, 'every recent revocation to be written to B', 10_000);
    expect(events).toContain('denylist.replay');
    expect(JSON.parse((await onB.get(denylistKey(prefix, entries[2]!)))!)).toMatchObject({ kind: 'user', id: 'u-1', before: entries[2]!.before });
    await eventually(() => denylist.status() === 'ok', 'the denylist to be in step again');
    expect(denylist.isRevoked({ sid: 's-1', jti: 'x', sub: 'y', iat: Math.floor(now / 1000) })).toBe(true);
  });
});
