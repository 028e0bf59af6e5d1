// The durable outbox in Redis mode: a revocation's row is written in the transaction of its
// state change (both commit or neither does), cleared when Redis confirms, and delivered by
// another replica when the one that took it never got to Redis.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import type { DenylistEntry } from '../../src/revocation/denylist.ts';
import { RedisDenylist } from '../../src/revocation/redis-denylist.ts';
import { SqlRevocationOutbox } from '../../src/revocation/sql-outbox.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { PASSWORD, signUp } from '../helpers/flows.ts';
import { adminClient, deleteKeys, eventually, REDIS_URL, RedisProxy, uniquePrefix } from './redis-kit.ts';

const prefix = uniquePrefix('outbox');
let testDb: TestDb;
let proxy: RedisProxy;
const open: RedisDenylist[] = [];

function replica(redis: string, writeTimeoutMs = 300): RedisDenylist {
  const denylist = new RedisDenylist({ redis, keyPrefix: prefix, clock: systemClock, writeTimeoutMs, retryIntervalMs: 100, sqlOutbox: new SqlRevocationOutbox(testDb.db) });
  open.push(denylist);
  return denylist;
}

const rows = async () => testDb.db.query<{ kind: string; subject: string; claimed: boolean }>('SELECT kind, subject, claimed_until IS NOT NULL AS claimed FROM revocation_outbox ORDER BY id');

beforeAll(async () => {
  testDb = await createTestDb('postgres');
  proxy = new RedisProxy();
  await proxy.start();
}, 60_000);
afterAll(async () => {
  for (const d of open) await d.close();
  await proxy.close();
  await testDb.drop();
  const admin = adminClient();
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

describe('durable outbox', () => {
  it('a row recorded in a transaction that rolls back is never delivered; a committed one is, by another replica, once the claim runs out', async () => {
    const a = replica(REDIS_URL);
    const b = replica(REDIS_URL);
    await Promise.all([a.start(), b.start()]);
    const rolledBack: DenylistEntry = { kind: 'session', id: crypto.randomUUID(), until: Date.now() + 600_000 };
    const committed: DenylistEntry = { kind: 'session', id: crypto.randomUUID(), until: Date.now() + 600_000 };
    await expect(
      testDb.db.transaction(async (tx) => {
        await a.record(tx, rolledBack);
        throw new Error('the state change failed');
      }),
    ).rejects.toThrow('the state change failed');
    // A commits the state change and its row, then "dies" before writing to Redis.
    const since = performance.now();
    await testDb.db.transaction((tx) => a.record(tx, committed));
    expect(await rows()).toEqual([{ kind: 'session', subject: committed.id, claimed: true }]);
    const ms = await eventually(() => b.isRevoked({ sid: committed.id }), 'B to deliver the orphaned row', 15_000);
    console.log(`orphaned row delivered by another replica ${(performance.now() - since).toFixed(0)} ms after its commit (claim: write timeout + 2 s; eventually() saw it at ${ms.toFixed(0)} ms)`);
    expect(b.isRevoked({ sid: rolledBack.id })).toBe(false);
    await eventually(async () => (await rows()).length === 0, 'the row to be deleted');
    // They reach Redis directly: they would drain what the next tests leave behind a cut proxy.
    await Promise.all([a.close(), b.close()]);
  });

  describe('through the HTTP routes', () => {
    let t: TestApp;
    beforeAll(async () => {
      const denylist = replica(proxy.url);
      t = await createTestApp({ db: testDb, denylist });
    }, 60_000);
    afterAll(async () => t?.close());

    it('a logout while Redis answers leaves no row behind', async () => {
      const { tokens } = await signUp(t.fastify);
      const res = await t.fastify.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: tokens.refresh_token } });
      expect(res.statusCode).toBe(204);
      expect(await rows()).toEqual([]);
    });

    it('a logout-all while Redis is cut answers 503 with the user and session rows committed', async () => {
      const { user, tokens } = await signUp(t.fastify);
      await proxy.cut();
      try {
        const res = await t.fastify.inject({ method: 'POST', url: '/auth/logout-all', headers: { authorization: `Bearer ${tokens.access_token}` } });
        expect(res.statusCode).toBe(503);
        const pending = await rows();
        expect(pending).toContainEqual({ kind: 'user', subject: user.id, claimed: false });
        expect(pending.filter((r) => r.kind === 'session')).toHaveLength(1);
      } finally {
        await proxy.restore();
      }
      await eventually(async () => (await rows()).length === 0, 'the outbox to drain once Redis is back', 15_000);
    });

    it('a state change whose outbox row cannot be written does not happen (one transaction)', async () => {
      const { user, tokens } = await signUp(t.fastify);
      await testDb.db.exec('ALTER TABLE revocation_outbox RENAME TO revocation_outbox_away');
      try {
        const change = await t.fastify.inject({
          method: 'POST',
          url: '/auth/password',
          headers: { authorization: `Bearer ${tokens.access_token}` },
          payload: { current_password: PASSWORD, new_password: 'a different passphrase entirely' },
        });
        expect(change.statusCode).toBeGreaterThanOrEqual(500);
        const logout = await t.fastify.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: tokens.refresh_token } });
        expect(logout.statusCode).toBeGreaterThanOrEqual(500);
      } finally {
        await testDb.db.exec('ALTER TABLE revocation_outbox_away RENAME TO revocation_outbox');
      }
      // Neither the password nor the session changed: the old password logs in, the refresh token still works.
      const login = await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } });
      expect(login.statusCode).toBe(200);
      const refreshed = await t.fastify.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token } });
      expect(refreshed.statusCode).toBe(200);
    });
  });
});
