// A Redis without persistence that restarts comes back empty. The writer notices another
// run_id and, besides replaying what it confirmed within the replay window, writes again every
// revocation SQL still knows (runtime.ts wires that rebuild as the denylist's `reseed`), so a
// verifier that loads from the emptied Redis refuses the revoked tokens again without waiting
// for a replica to restart. A mirror that was running keeps what it held (its resync merges).
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisServer, skipUnless } from '../../../../test/lib/requirements.ts';
import { createVerifier, DenylistMirror, type Verifier } from '@tessera/verifier';
import { denylistKey, encodeDenylistEntry } from '@tessera/verifier/internal';
import { syncDenylistFromRedis } from '@tessera/verifier/redis';
import { ManualClock, systemClock } from '../../src/clock.ts';
import { configFrom } from '../../src/config.ts';
import type { Denylist } from '../../src/revocation/denylist.ts';
import { RedisDenylist } from '../../src/revocation/redis-denylist.ts';
import { openDenylist } from '../../src/runtime.ts';
import { captureLogger, tempDir } from '../helpers/app.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { bearer, decodeJwt, PASSWORD, signUp } from '../helpers/flows.ts';
import { REDIS_SERVER_BIN, startRedisNode, type RedisNode } from '../sentinel/sentinel-kit.ts';
import { codeOf, listeningTessera, type ListeningTessera } from '../verifier/kit.ts';
import { eventually, uniquePrefix } from './redis-kit.ts';

const REPLAY_WINDOW_MS = 60_000;

skipUnless(redisServer)('a Redis that restarts empty', () => {
  const dir = tempDir('tessera-reseed-');
  const prefix = uniquePrefix('reseed');
  const clock = new ManualClock(Date.now());
  const { logger, lines } = captureLogger();
  let node: RedisNode;
  let redisUrl: string;
  let testDb: TestDb;
  let denylist: Denylist;
  let tessera: ListeningTessera;
  const verifiers: Verifier[] = [];
  const clients: Redis[] = [];

  const client = (): Redis => {
    const c = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  const verifier = (): Verifier => {
    const v = createVerifier({ issuer: tessera.issuer, audience: 'tessera', cache: false, revocation: { redisUrl, keyPrefix: prefix, readyTimeoutMs: 5_000 } });
    verifiers.push(v);
    return v;
  };
  /** SIGKILL and start again on the same port: no persistence, so it comes back empty. */
  const restartEmpty = async () => {
    await node.kill();
    await node.start();
  };
  const inject = (method: 'POST', url: string, accessToken: string, payload?: object) =>
    tessera.t.fastify.inject({ method, url, headers: bearer(accessToken), ...(payload ? { payload } : {}) });

  beforeAll(async () => {
    node = await startRedisNode(REDIS_SERVER_BIN, dir, 'redis', ['save ""', 'appendonly no']);
    redisUrl = `redis://127.0.0.1:${node.port}`;
    testDb = await createTestDb('postgres');
    // The denylist as runtime.ts opens it: with the database, hence the SQL outbox and the reseed.
    const config = configFrom({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix, REVOCATION_WRITE_TIMEOUT_MS: '1000' });
    denylist = await openDenylist(config, clock, logger, testDb.db);
    tessera = await listeningTessera({ db: testDb, clock, denylist });
  }, 30_000);

  afterAll(async () => {
    await Promise.all(verifiers.map((v) => v.close()));
    await tessera?.t.close();
    await testDb?.drop();
    for (const c of clients) c.disconnect();
    await node?.kill();
  });

  it('a mirror that resyncs from the emptied Redis keeps the entries it holds until they expire', async () => {
    const mirrorPrefix = uniquePrefix('reseed-mirror');
    const entry = { kind: 'session' as const, id: 'held-by-the-mirror', until: Date.now() + 600_000 };
    await client().set(denylistKey(mirrorPrefix, entry), encodeDenylistEntry(entry), 'PXAT', entry.until);
    const mirror = new DenylistMirror();
    const statuses: string[] = [];
    const sync = syncDenylistFromRedis({ redis: redisUrl, keyPrefix: mirrorPrefix, mirror, onChange: (s) => statuses.push(s) });
    try {
      await sync.ready;
      const revoked = () => mirror.isRevoked({ sid: entry.id, jti: 'j', sub: 'u', iat: Math.floor(Date.now() / 1000) }, Date.now());
      expect(revoked()).toBe(true);
      await restartEmpty();
      await eventually(() => statuses.includes('degraded') && sync.status() === 'ok', 'the mirror to resync from the restarted Redis');
      expect(await client().exists(denylistKey(mirrorPrefix, entry))).toBe(0);
      expect(revoked()).toBe(true);
    } finally {
      await sync.close();
    }
  });

  it('gets every revocation SQL still knows back into Redis, and a verifier loading from it refuses the tokens', async () => {
    const alice = await signUp(tessera.t.fastify);
    const bob = await signUp(tessera.t.fastify);
    const carol = await signUp(tessera.t.fastify);
    const sessionOf = (accessToken: string) => ({ kind: 'session' as const, id: decodeJwt(accessToken).payload.sid as string });

    expect((await inject('POST', '/auth/logout', alice.tokens.access_token)).statusCode).toBe(204);
    // A whole second later: the password change's cut-off falls after the old token's iat.
    clock.advance(1_000);
    const change = await inject('POST', '/auth/password', bob.tokens.access_token, {
      current_password: PASSWORD,
      new_password: 'a different passphrase entirely',
      token_delivery: 'body',
    });
    expect(change.statusCode, change.body).toBe(200);
    const before = verifier();
    expect(await codeOf(before.verify(alice.tokens.access_token))).toBe('revoked');
    expect(await codeOf(before.verify(bob.tokens.access_token))).toBe('revoked');

    // Past the replay window: those two are no longer this replica's to replay. A newer
    // revocation is (and, writing, drops the older ones from what the replay remembers).
    clock.advance(REPLAY_WINDOW_MS + 5_000);
    expect((await inject('POST', '/auth/logout', carol.tokens.access_token)).statusCode).toBe(204);
    // Alice's session, Bob's password change (a per-user cut-off), Carol's session (replayed).
    const keys = [sessionOf(alice.tokens.access_token), { kind: 'user' as const, id: bob.user.id }, sessionOf(carol.tokens.access_token)].map((e) => denylistKey(prefix, e));
    expect(await client().exists(...keys)).toBe(keys.length);

    await restartEmpty();
    const took = await eventually(async () => (await client().exists(...keys)) === keys.length, 'the older revocations to be written to the restarted Redis', 15_000);
    console.log(`revocations older than the replay window back in the restarted Redis after ${took.toFixed(0)} ms`);
    expect(lines.some((l) => l.includes('"denylist.reseeded"'))).toBe(true);

    // A verifier that starts now (a service deployed or restarted) knows only what Redis holds.
    const after = verifier();
    expect(await codeOf(after.verify(alice.tokens.access_token))).toBe('revoked');
    expect(await codeOf(after.verify(bob.tokens.access_token))).toBe('revoked');
    // The one that ran across the restart kept its entries.
    expect(await codeOf(before.verify(alice.tokens.access_token))).toBe('revoked');
    expect(await codeOf(before.verify(bob.tokens.access_token))).toBe('revoked');
    // Nothing else was revoked: the new password's token is good.
    const renewed = change.json<{ access_token: string }>().access_token;
    expect(await codeOf(after.verify(renewed))).toBe('accepted');
  });

  it('retries a reseed that failed (the database away) instead of giving up until the next restart', async () => {
    const ownPrefix = uniquePrefix('reseed-retry');
    const entry = { kind: 'session' as const, id: 'known-to-sql', until: Date.now() + 600_000 };
    const events: string[] = [];
    const eventLogger = { info: () => {}, error: () => {}, warn: (fields: { event: string }) => events.push(fields.event) } as unknown as typeof logger;
    let calls = 0;
    const reseed = async () => {
      calls++;
      if (calls === 1) throw new Error('database unreachable');
      return [entry];
    };
    const own = new RedisDenylist({ redis: redisUrl, keyPrefix: ownPrefix, clock: systemClock, writeTimeoutMs: 1_000, retryIntervalMs: 100, logger: eventLogger, reseed });
    try {
      await own.start();
      expect(calls).toBe(0); // the first server is not a new one: start-up seeds it (runtime.ts)
      await restartEmpty();
      await eventually(async () => (await client().exists(denylistKey(ownPrefix, entry))) === 1, 'the retried reseed to write the entry');
      expect(events).toContain('denylist.reseed_failed');
      expect(calls).toBe(2);
    } finally {
      await own.close();
    }
  });
});
