// Revocation through the feed: the verifier against a protocol-conforming fake feed over
// real HTTP — snapshot, live events, resume with Last-Event-ID, a too-old cursor, a silent
// connection, refused credentials — and the SSE parser on its own.
import { afterEach, describe, expect, it } from 'vitest';
import { createVerifier, DenylistMirror, type Verifier, type VerifyError } from '@tessera/verifier';
import { basicCredentials, syncDenylistFromFeed, type FeedEvent, type FeedSync } from '@tessera/verifier/feed';
import { SseParser, type SseEvent } from '../src/sse.ts';
import { FakeFeed } from './fake-feed.ts';
import { refusalCode, useTestIssuer } from './issuer.ts';

const idp = useTestIssuer();

const nowS = () => Math.floor(Date.now() / 1000);
const later = () => nowS() + 900;

async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await condition()) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}


const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function feed(): Promise<FakeFeed> {
  const f = await new FakeFeed().start();
  cleanup.push(() => f.close());
  return f;
}

function verifierOn(f: FakeFeed, extra: { clientSecret?: string; readyTimeoutMs?: number; heartbeatTimeoutMs?: number } = {}, errors: Error[] = []): Verifier {
  const verifier = createVerifier({
    issuer: idp().issuer,
    audience: 'tessera',
    cache: true,
    revocation: { feedUrl: f.url, clientId: f.clientId, clientSecret: f.clientSecret, maxRetryMs: 200, ...extra },
    onError: (err) => errors.push(err),
  });
  cleanup.push(() => verifier.close());
  return verifier;
}

describe('revocation through the feed', () => {
  it('loads the snapshot (sessions, tokens, users in the units of the wire) and applies live revocations within milliseconds', async () => {
    const f = await feed();
    const user = 'user-cut';
    f.revoke({ kind: 'session', sid: 'sid-old', expires_at: later() });
    f.revoke({ kind: 'token', jti: 'jti-old', expires_at: later() });
    f.revoke({ kind: 'user', sub: user, not_before: nowS() - 10, expires_at: later() });
    f.revoke({ kind: 'session', sid: 'sid-expired', expires_at: nowS() - 1 });
    const verifier = verifierOn(f);
    expect(verifier.status()).toBe('degraded');

    expect(await refusalCode(verifier.verify(idp().sign({ sid: 'sid-old' })))).toBe('revoked');
    expect(verifier.status()).toBe('ok');
    expect(f.requests.map((r) => r.answered)).toEqual(['snapshot']);
    expect(f.requests[0]!.lastEventId).toBeUndefined();
    // RFC 6749 §2.3.1: the id's space and the secret's ':', '+' and '%' are form-encoded.
    expect(f.requests[0]!.authorization).toBe(basicCredentials('svc id', 's3cr:t+%'));
    expect(Buffer.from(f.requests[0]!.authorization!.slice(6), 'base64').toString()).toBe('svc+id:s3cr%3At%2B%25');
    expect(await refusalCode(verifier.verify(idp().sign({ jti: 'jti-old' })))).toBe('revoked');
    expect(await refusalCode(verifier.verify(idp().sign({ sub: user, iat: nowS() - 20 })))).toBe('revoked');
    expect(await refusalCode(verifier.verify(idp().sign({ sub: user, iat: nowS() - 5 })))).toBeUndefined(); // issued after the cut
    expect(await refusalCode(verifier.verify(idp().sign({ sid: 'sid-expired' })))).toBeUndefined();

    const token = idp().sign({ sid: 'sid-live' });
    expect(await refusalCode(verifier.verify(token))).toBeUndefined();
    const at = performance.now();
    f.revoke({ kind: 'session', sid: 'sid-live', expires_at: later() });
    await eventually(async () => (await refusalCode(verifier.verify(token))) === 'revoked', 'the live revocation');
    const ms = performance.now() - at;
    console.log(`fake feed: revocation event → rejected by the verifier ${ms.toFixed(1)} ms later`);
    expect(ms).toBeLessThan(1_000);
  });

  it('after a dropped connection reconnects with Last-Event-ID and receives exactly what it missed; degraded meanwhile', async () => {
    const f = await feed();
    f.revoke({ kind: 'session', sid: 'before', expires_at: later() });
    const mirror = new DenylistMirror();
    const events: FeedEvent[] = [];
    const errors: Error[] = [];
    const statuses: string[] = [];
    const sync: FeedSync = syncDenylistFromFeed({
      feedUrl: f.url, clientId: f.clientId, clientSecret: f.clientSecret, mirror, maxRetryMs: 200,
      onEvent: (e) => events.push(e), onError: (e) => errors.push(e), onChange: (s) => statuses.push(s),
    });
    cleanup.push(() => sync.close());
    await sync.ready;
    expect(sync.status()).toBe('ok');
    expect(sync.cursor()).toBe('1');

    f.refuseWith = 503;
    f.drop();
    await eventually(() => sync.status() === 'degraded', 'degraded after the drop');
    const missed = ['m1', 'm2', 'm3'].map((sid) => f.revoke({ kind: 'session', sid, expires_at: later() }));
    await eventually(() => errors.some((e) => e.message === 'the revocation feed answered HTTP 503'), 'a refused reconnect');
    // The cut stream, then the refused reconnect.
    expect(errors[0]?.message).toMatch(/^(the revocation feed closed the stream|revocation feed connection failed: )/);
    expect(mirror.isRevoked({ sid: 'm1' }, Date.now())).toBe(false);

    f.refuseWith = undefined;
    await eventually(() => sync.status() === 'ok' && sync.cursor() === missed.at(-1), 'caught up');
    const resumed = f.requests.at(-1)!;
    expect(resumed).toMatchObject({ lastEventId: '1', answered: 'stream' });
    // Exactly the missed ones, once each, no snapshot.
    expect(events.map((e) => (e.type === 'revocation' ? e.entry.id : 'snapshot'))).toEqual(['snapshot', 'm1', 'm2', 'm3']);
    for (const sid of ['before', 'm1', 'm2', 'm3']) expect(mirror.isRevoked({ sid }, Date.now())).toBe(true);
    expect(statuses).toEqual(['ok', 'degraded', 'ok']);
  });

  it('with a cursor older than the feed holds, takes the snapshot and REPLACES the mirror with it', async () => {
    const f = await feed();
    f.revoke({ kind: 'session', sid: 'a', expires_at: later() });
    const mirror = new DenylistMirror();
    mirror.apply({ kind: 'session', id: 'stale-local', until: Date.now() + 60_000 });
    const sync = syncDenylistFromFeed({ feedUrl: f.url, clientId: f.clientId, clientSecret: f.clientSecret, mirror, lastEventId: '0', maxRetryMs: 200 });
    cleanup.push(() => sync.close());
    await sync.ready;
    await eventually(() => mirror.isRevoked({ sid: 'a' }, Date.now()), 'entry after the cursor');
    expect(f.requests[0]).toMatchObject({ lastEventId: '0', answered: 'stream' });

    f.refuseWith = 503;
    f.drop();
    f.revoke({ kind: 'session', sid: 'b', expires_at: later() });
    f.revoke({ kind: 'session', sid: 'c', expires_at: later() });
    f.oldest = 2; // the log no longer reaches back to cursor 1: 'a' and 'b' are gone (as if expired and trimmed)
    f.refuseWith = undefined;
    await eventually(() => f.requests.some((r) => r.answered === 'snapshot'), 'a snapshot');
    await eventually(() => sync.status() === 'ok', 'ok again');
    expect(f.requests.at(-1)).toMatchObject({ lastEventId: '1', answered: 'snapshot' });
    expect(mirror.entries().map((e) => e.id)).toEqual(['c']);
    expect(sync.cursor()).toBe('3');
  });

  it('drops a connection that goes silent (no heartbeat) and reconnects', async () => {
    const f = await feed();
    f.heartbeatMs = 50;
    const errors: Error[] = [];
    const verifier = verifierOn(f, { heartbeatTimeoutMs: 400 }, errors);
    await verifier.verify(idp().sign());
    await new Promise((r) => setTimeout(r, 600)); // heartbeats keep a quiet stream alive
    expect(f.requests).toHaveLength(1);
    expect(verifier.status()).toBe('ok');

    f.stalled = true;
    await eventually(() => verifier.status() === 'degraded', 'degraded once silent');
    expect(errors.at(-1)?.message).toBe('no event or heartbeat from the revocation feed for 400 ms');
    f.stalled = false;
    f.drop();
    await eventually(() => verifier.status() === 'ok', 'ok after the reconnect');
    expect(f.requests.at(-1)).toMatchObject({ lastEventId: '0', answered: 'stream' });
  });

  it('with wrong credentials: 401 reported through onError, degraded, and verify() refuses (revocation_unavailable) rather than guess', async () => {
    const f = await feed();
    const errors: Error[] = [];
    const verifier = verifierOn(f, { clientSecret: 'wrong', readyTimeoutMs: 300 }, errors);
    const err = await verifier.verify(idp().sign()).then(() => undefined, (e: unknown) => e as VerifyError);
    expect(err?.code).toBe('revocation_unavailable');
    expect((err?.cause as Error).message).toMatch(/refused the client credentials \(401\)/);
    expect(errors[0]?.message).toBe('the revocation feed refused the client credentials (401): check clientId and clientSecret');
    expect(verifier.status()).toBe('degraded');
    expect(f.requests.every((r) => r.answered === 401)).toBe(true);
    // The secret is never part of what is reported.
    expect(errors.map((e) => e.message).join()).not.toContain('wrong');
  });

  it('names a missing permission (403) and keeps retrying until the operator fixes it', async () => {
    const f = await feed();
    f.refuseWith = 403;
    const errors: Error[] = [];
    const verifier = verifierOn(f, { readyTimeoutMs: 5_000 }, errors);
    await eventually(() => errors.length >= 2, 'two refused attempts');
    expect(errors[0]?.message).toBe('the revocation feed client lacks the "revocations" permission (403): add it in INTROSPECTION_CLIENTS');
    expect(verifier.status()).toBe('degraded');
    f.refuseWith = undefined;
    await eventually(() => verifier.status() === 'ok', 'ok once permitted');
    expect(await refusalCode(verifier.verify(idp().sign()))).toBeUndefined();
  });

  it('reports an unreachable feed with the cause behind fetch\'s "fetch failed"', async () => {
    const f = await feed();
    const url = f.url;
    await f.close(); // nothing listens there any more
    const errors: Error[] = [];
    const sync = syncDenylistFromFeed({ feedUrl: url, clientId: 'a', clientSecret: 'b', mirror: new DenylistMirror(), onError: (e) => errors.push(e) });
    cleanup.push(() => sync.close());
    await eventually(() => errors.length > 0, 'a failure reported');
    expect(errors[0]!.message).toMatch(/^revocation feed connection failed: fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    expect(sync.status()).toBe('degraded');
  });

  it('validates the feed options and refuses two sources at once', () => {
    const base = { issuer: 'https://auth.example.com', audience: 'tessera' };
    const feedOptions = { feedUrl: 'https://auth.example.com/revocations/stream', clientId: 'svc', clientSecret: 's' };
    const cases: [unknown, RegExp][] = [
      [{ ...feedOptions, redisUrl: 'redis://r' }, /one source of revocations, got "feedUrl" and "redisUrl"/],
      [{ ...feedOptions, feedUrl: 'ftp://x' }, /"revocation.feedUrl" must be an absolute http\(s\) URL/],
      [{ ...feedOptions, feedUrl: 'https://svc:s@auth.example.com/revocations/stream' }, /"revocation.feedUrl" must be a URL without credentials/],
      [{ ...feedOptions, clientSecret: '' }, /"revocation.clientSecret"/],
      [{ feedUrl: feedOptions.feedUrl, clientId: 'svc' }, /"revocation.clientSecret"/],
      [{ ...feedOptions, heartbeatTimeoutMs: 0 }, /"revocation.heartbeatTimeoutMs"/],
      [{ ...feedOptions, keyPrefix: 'tessera:' }, /unknown option "revocation.keyPrefix" for revocation through the feed/],
    ];
    for (const [revocation, message] of cases) {
      expect(() => createVerifier({ ...base, revocation: revocation as never })).toThrow(message);
    }
    const verifier = createVerifier({ ...base, revocation: feedOptions as never });
    return verifier.close();
  });

  it('status() is ok without revocation or with an own mirror', async () => {
    const plain = createVerifier({ issuer: idp().issuer, audience: 'tessera' });
    expect(plain.status()).toBe('ok');
    const own = createVerifier({ issuer: idp().issuer, audience: 'tessera', revocation: { mirror: new DenylistMirror() } });
    expect(own.status()).toBe('ok');
    await Promise.all([plain.close(), own.close()]);
  });
});

describe('the SSE parser', () => {
  it('gives the same events however the stream is cut into chunks (LF, CRLF, CR, comments, multi-line data, retry)', () => {
    const stream =
      'retry: 1000\r\n\r\n: keep-alive\n\nevent: snapshot\r\nid: 7\r\ndata: {"entries":\r\ndata: []}\r\n\r\n' +
      'event: revocation\rid: 8\rdata:x\r\r: keep-alive\n\nid: 9\ndata\n\nevent: ignored-without-data\n\n';
    const expected: SseEvent[] = [
      { type: 'snapshot', id: '7', data: '{"entries":\n[]}' },
      { type: 'revocation', id: '8', data: 'x' },
      { type: 'message', id: '9', data: '' },
    ];
    for (const size of [1, 2, 3, 7, stream.length]) {
      const events: SseEvent[] = [];
      const retries: number[] = [];
      const parser = new SseParser({ onEvent: (e) => events.push(e), onRetry: (ms) => retries.push(ms) });
      for (let i = 0; i < stream.length; i += size) parser.push(stream.slice(i, i + size));
      expect(events, `chunks of ${size}`).toEqual(expected);
      expect(retries).toEqual([1000]);
    }
  });

  it('refuses an event larger than its bound', () => {
    const parser = new SseParser({ onEvent: () => undefined, maxEventChars: 100 });
    expect(() => parser.push(`data: ${'x'.repeat(200)}`)).toThrow(/exceeds 100 characters/);
  });
});
