// The revocation feed on a real listening app, in both modes: the embedded log (memory
// denylist) and the Redis stream (RedisDenylist on the shared Redis, its own key prefix).
import crypto from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import type { Denylist, DenylistEntry } from '../../src/revocation/denylist.ts';
import type { EmbeddedRevocationLog } from '../../src/revocation/embedded-log.ts';
import { MemoryDenylist } from '../../src/revocation/memory-denylist.ts';
import { RedisDenylist } from '../../src/revocation/redis-denylist.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { basic, FEED_CLIENT, FEED_CLIENTS_ENV, FEED_ONLY, INTROSPECT_ONLY, SseStream, type WireEntry } from './feed-kit.ts';
import { adminClient, deleteKeys, REDIS_URL, uniquePrefix } from './redis-kit.ts';

// The fan-out test opens 100 streams of one client: above the default cap on purpose.
const env = { INTROSPECTION_CLIENTS: FEED_CLIENTS_ENV, REVOCATION_FEED_HEARTBEAT_SECONDS: '1', REVOCATION_FEED_MAX_STREAMS_PER_CLIENT: '200' };
const auth = basic(FEED_CLIENT);

interface Poll {
  snapshot: boolean;
  entries: WireEntry[];
  next: string;
  more: boolean;
}

const token = (clock: ManualClock, ttlMs = 600_000): DenylistEntry => ({ kind: 'token', id: crypto.randomUUID(), until: clock.now() + ttlMs });
const jtis = (entries: WireEntry[]) => entries.filter((e) => e.kind === 'token').map((e) => e.jti);

type Mode = 'memory' | 'redis';

describe.each<Mode>(['memory', 'redis'])('revocation feed (%s)', (mode) => {
  const prefix = uniquePrefix('feed');
  const clock = new ManualClock(Date.now());
  const streams: SseStream[] = [];
  const denylists: Denylist[] = [];
  let testDb: TestDb;
  let t: TestApp;
  let url: string;

  function newDenylist(): Denylist {
    const denylist = mode === 'memory' ? new MemoryDenylist(clock) : new RedisDenylist({ redis: REDIS_URL, keyPrefix: prefix, clock, writeTimeoutMs: 2_000 });
    denylists.push(denylist);
    return denylist;
  }

  async function listen(app: TestApp): Promise<string> {
    await app.fastify.listen({ port: 0, host: '127.0.0.1' });
    const address = app.fastify.server.address() as { port: number };
    return `http://127.0.0.1:${address.port}`;
  }

  async function open(path = '/revocations/stream', headers: Record<string, string> = auth, base = url) {
    const stream = await SseStream.open(`${base}${path}`, headers);
    streams.push(stream);
    return stream;
  }

  async function poll(query = '', base = url): Promise<Poll> {
    const res = await fetch(`${base}/revocations${query}`, { headers: auth });
    expect(res.status).toBe(200);
    return (await res.json()) as Poll;
  }

  /** Forces the log to drop what has expired: the embedded log trims on a timer, the stream on its next write. */
  async function trimExpired(): Promise<void> {
    if (mode === 'memory') await (t.denylist.feed as EmbeddedRevocationLog).trim();
    else await t.denylist.revoke(token(clock));
  }

  beforeAll(async () => {
    testDb = await createTestDb('postgres');
    t = await createTestApp({ env, clock, db: testDb, denylist: newDenylist() });
    url = await listen(t);
  }, 60_000);
  afterEach(() => {
    for (const stream of streams.splice(0)) stream.close();
  });
  afterAll(async () => {
    await t?.close();
    for (const denylist of denylists) await denylist.close();
    await testDb?.drop();
    if (mode === 'redis') {
      const admin = adminClient();
      await deleteKeys(admin, prefix);
      admin.disconnect();
    }
  });

  it('refuses missing or wrong credentials with 401 and no data, and a client without the permission with 403', async () => {
    await t.denylist.revoke(token(clock));
    const wrong = basic({ id: FEED_CLIENT.id, secret: 'not-it' });
    for (const path of ['/revocations/stream', '/revocations']) {
      for (const headers of [{}, wrong, basic({ id: 'nobody', secret: 'x' }), { authorization: 'Basic !!!' }]) {
        const res = await fetch(`${url}${path}`, { headers });
        expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe('Basic realm="tessera"');
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        const body = (await res.json()) as Record<string, unknown>;
        expect(body.code).toBe('invalid_client');
        expect(body).not.toHaveProperty('entries');
      }
      const forbidden = await fetch(`${url}${path}`, { headers: basic(INTROSPECT_ONLY) });
      expect(forbidden.status).toBe(403);
      expect(((await forbidden.json()) as { code: string }).code).toBe('client_not_permitted');
    }
    // The permissions are separate: a feed-only client (secret with a colon) reads the feed but may not introspect.
    expect((await fetch(`${url}/revocations`, { headers: basic(FEED_ONLY) })).status).toBe(200);
    const introspect = await fetch(`${url}/oauth/introspect`, {
      method: 'POST',
      headers: { ...basic(FEED_ONLY), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=abc',
    });
    expect(introspect.status).toBe(403);
    expect(((await introspect.json()) as { error: string }).error).toBe('unauthorized_client');
    const allowed = await fetch(`${url}/oauth/introspect`, {
      method: 'POST',
      headers: { ...basic(INTROSPECT_ONLY), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=abc',
    });
    expect(allowed.status).toBe(200);
  });

  it('starts with a snapshot of every live entry, then streams each new one with its cursor', async () => {
    const before = [token(clock), { kind: 'session', id: crypto.randomUUID(), until: clock.now() + 60_000 } as DenylistEntry];
    const user: DenylistEntry = { kind: 'user', id: crypto.randomUUID(), before: Math.floor(clock.now() / 1000), until: clock.now() + 60_000 };
    for (const entry of [...before, user]) await t.denylist.revoke(entry);
    const stream = await open();
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(stream.response.headers.get('cache-control')).toBe('no-store');
    expect(stream.response.headers.get('x-accel-buffering')).toBe('no');
    await stream.until(() => stream.snapshots().length === 1, 'the snapshot');
    expect(stream.fields[0]).toBe('retry: 1000');
    const [snapshot] = stream.snapshots();
    // The snapshot's id is the log's head: the cursor a reconnect resumes from.
    const headAtSnapshot = (await t.denylist.feed!.read(undefined, 1_000)).next;
    expect(snapshot!.id).toBe(headAtSnapshot);
    expect(snapshot!.entries).toEqual(
      expect.arrayContaining([
        { kind: 'token', jti: before[0]!.id, expires_at: Math.ceil(before[0]!.until / 1000) },
        { kind: 'session', sid: before[1]!.id, expires_at: Math.ceil(before[1]!.until / 1000) },
        { kind: 'user', sub: user.id, not_before: (user as { before: number }).before, expires_at: Math.ceil(user.until / 1000) },
      ]),
    );

    const live = token(clock);
    await t.denylist.revoke(live);
    await stream.until(() => stream.revocations().length === 1, 'the live revocation');
    expect(stream.revocations()).toEqual([{ kind: 'token', jti: live.id, expires_at: Math.ceil(live.until / 1000) }]);
    const event = stream.events.at(-1)!;
    expect(event.id).toBe((await t.denylist.feed!.read(undefined, 1_000)).next);
    expect(event.id).not.toBe(snapshot!.id);
  });

  it('a reconnect with Last-Event-ID (or ?after=) gets exactly what it missed, and no snapshot', async () => {
    const first = await open();
    await first.until(() => first.snapshots().length === 1, 'the snapshot');
    const cursor = first.lastId()!;
    first.close();
    const missed = [token(clock), token(clock), token(clock)];
    for (const entry of missed) await t.denylist.revoke(entry);

    const resumed = await open('/revocations/stream', { ...auth, 'last-event-id': cursor });
    await resumed.until(() => resumed.revocations().length === 3, 'the three missed entries');
    const live = token(clock);
    await t.denylist.revoke(live);
    await resumed.until(() => resumed.revocations().length === 4, 'the next live entry');
    expect(resumed.snapshots()).toEqual([]);
    expect(jtis(resumed.revocations())).toEqual([...missed, live].map((e) => e.id));

    // The same by query string; the header wins over it.
    const byQuery = await open(`/revocations/stream?after=${encodeURIComponent(cursor)}`);
    await byQuery.until(() => byQuery.revocations().length === 4, 'the entries after the cursor');
    expect(jtis(byQuery.revocations())).toEqual([...missed, live].map((e) => e.id));
    const headerWins = await open(`/revocations/stream?after=nonsense`, { ...auth, 'last-event-id': cursor });
    await headerWins.until(() => headerWins.revocations().length === 4, 'the entries after the header cursor');
    expect(headerWins.snapshots()).toEqual([]);
  });

  it('a malformed, unknown or too-old cursor gets a snapshot', async () => {
    const start = await poll();
    const shortLived = token(clock, 1_000);
    await t.denylist.revoke(shortLived);
    // Every entry so far expires, so the log can drop all of them (the stream trims from its head).
    clock.advance(700_000);
    const keeper = token(clock);
    await t.denylist.revoke(keeper);
    await trimExpired();

    for (const cursor of [start.next, 'garbage', '99999999999999-0', '999999999']) {
      const stream = await open('/revocations/stream', { ...auth, 'last-event-id': cursor });
      await stream.until(() => stream.snapshots().length === 1, `a snapshot for cursor ${cursor}`);
      const entries = stream.snapshots()[0]!.entries;
      expect(jtis(entries)).toContain(keeper.id);
      expect(jtis(entries)).not.toContain(shortLived.id);
      expect(stream.revocations()).toEqual([]);
      stream.close();
      const page = await poll(`?after=${encodeURIComponent(cursor)}`);
      expect(page.snapshot).toBe(true);
    }
  });

  it('HEAD answers the headers and closes', async () => {
    const head = await fetch(`${url}/revocations/stream`, { method: 'HEAD', headers: auth });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/^text\/event-stream/);
  });

  it('fans each revocation out to many open streams, in order', async () => {
    const fans = await Promise.all(Array.from({ length: 100 }, () => open()));
    await Promise.all(fans.map((s) => s.until(() => s.snapshots().length === 1, 'the snapshot')));
    const entries = [token(clock), token(clock), token(clock)];
    // Count the log reads the streams make meanwhile: in Redis mode the tailer's batches serve them.
    const log = t.denylist.feed!;
    const read = log.read.bind(log);
    let reads = 0;
    log.read = (after, limit) => {
      reads += 1;
      return read(after, limit);
    };
    const since = performance.now();
    try {
      for (const entry of entries) await t.denylist.revoke(entry);
      await Promise.all(fans.map((s) => s.until(() => s.revocations().length === 3, 'the three revocations')));
    } finally {
      log.read = read;
    }
    console.log(`${mode}: 3 revocations reached all 100 open streams in ${(performance.now() - since).toFixed(0)} ms, with ${reads} log reads`);
    if (mode === 'redis') expect(reads).toBeLessThan(100);
    for (const s of fans) expect(jtis(s.revocations())).toEqual(entries.map((e) => e.id));
  });

  it('sends a keep-alive comment on an idle stream', async () => {
    const stream = await open();
    const since = performance.now();
    await stream.until(() => stream.comments.includes('keep-alive'), 'a heartbeat', 5_000);
    const elapsed = performance.now() - since;
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^tessera_revocation_feed_streams [1-9]/m);
    console.log(`${mode}: first heartbeat after ${elapsed.toFixed(0)} ms (REVOCATION_FEED_HEARTBEAT_SECONDS=1)`);
    expect(elapsed).toBeGreaterThan(500);
  });

  it('GET /revocations serves the same log as JSON, with a next cursor and paging', async () => {
    const snapshot = await poll();
    expect(snapshot.snapshot).toBe(true);
    expect(snapshot.more).toBe(false);
    const added = [token(clock), token(clock), token(clock)];
    for (const entry of added) await t.denylist.revoke(entry);

    const after = await poll(`?after=${encodeURIComponent(snapshot.next)}`);
    expect(after.snapshot).toBe(false);
    expect(jtis(after.entries)).toEqual(added.map((e) => e.id));
    expect(after.more).toBe(false);
    const nothing = await poll(`?after=${encodeURIComponent(after.next)}`);
    expect(nothing).toEqual({ snapshot: false, entries: [], next: after.next, more: false });

    const one = await poll(`?after=${encodeURIComponent(snapshot.next)}&limit=1`);
    expect(one.more).toBe(true);
    expect(jtis(one.entries)).toEqual([added[0]!.id]);
    const rest = await poll(`?after=${encodeURIComponent(one.next)}&limit=2`);
    expect(jtis(rest.entries)).toEqual([added[1]!.id, added[2]!.id]);

    for (const bad of ['limit=0', 'limit=10001', 'limit=abc']) {
      const res = await fetch(`${url}/revocations?${bad}`, { headers: auth });
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toContain('limit');
    }
  });

  // Only the Redis log is shared between instances (the embedded one is one process's).
  if (mode === 'redis') {
    it('a second instance on the same Redis serves a cursor the first handed out', async () => {
      const cursor = (await poll()).next;
      const other = await createTestApp({ env, clock, db: testDb, denylist: newDenylist() });
      try {
        const otherUrl = await listen(other);
        const entry = token(clock);
        await t.denylist.revoke(entry);
        const page = await poll(`?after=${encodeURIComponent(cursor)}`, otherUrl);
        expect(page.snapshot).toBe(false);
        expect(jtis(page.entries)).toEqual([entry.id]);
        const stream = await open('/revocations/stream', { ...auth, 'last-event-id': cursor }, otherUrl);
        await stream.until(() => stream.revocations().length === 1, 'the entry written through the first instance');
        const live = token(clock);
        await t.denylist.revoke(live);
        await stream.until(() => stream.revocations().length === 2, 'a live entry written through the first instance');
        expect(jtis(stream.revocations())).toEqual([entry.id, live.id]);
        stream.close();
      } finally {
        await other.close();
      }
    });
  }
});
