// The revocation feed served by real server processes: the embedded default (PGlite +
// in-memory denylist) across a restart, and two replicas on one Redis serving each
// other's cursors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/app.ts';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { freePort, startProcess, type TesseraProcess } from '../helpers/process.ts';
import { basic, FEED_CLIENT, FEED_CLIENTS_ENV, SseStream, type WireEntry } from '../revocation/feed-kit.ts';
import { CLIENT, post, registerAndLogin, startCluster, type Cluster } from './cluster-kit.ts';

const json = { 'content-type': 'application/json' };
const feedEnv = { REVOCATION_FEED_HEARTBEAT_SECONDS: '1' };
const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { sid: string; jti: string; sub: string };

interface Poll {
  snapshot: boolean;
  entries: WireEntry[];
  next: string;
  more: boolean;
}

async function poll(base: string, after?: string): Promise<Poll> {
  const res = await fetch(`${base}/revocations${after === undefined ? '' : `?after=${encodeURIComponent(after)}`}`, { headers: basic(FEED_CLIENT) });
  expect(res.status).toBe(200);
  return (await res.json()) as Poll;
}

describe('embedded default: the feed across a restart', () => {
  const env = { DATA_DIR: tempDir('tessera-data-'), KEYS_DIR: tempDir('tessera-keys-'), INTROSPECTION_CLIENTS: FEED_CLIENTS_ENV, ...feedEnv };
  let server: TesseraProcess | undefined;
  const streams: SseStream[] = [];
  afterAll(async () => {
    for (const s of streams) s.close();
    await server?.stop('SIGKILL');
  });

  const open = async (headers: Record<string, string> = {}) => {
    const stream = await SseStream.open(`${server!.url}/revocations/stream`, { ...basic(FEED_CLIENT), ...headers });
    streams.push(stream);
    expect(stream.response.status).toBe(200);
    return stream;
  };

  it('keeps token revocations and cursor meaning across a restart', async () => {
    const port = await freePort();
    server = await startProcess({ env, port });
    const email = uniqueEmail();
    expect((await fetch(`${server.url}/auth/register`, { method: 'POST', headers: json, body: JSON.stringify({ email, password: PASSWORD }) })).status).toBe(201);
    const login = async () => {
      const res = await fetch(`${server!.url}/auth/login`, { method: 'POST', headers: json, body: JSON.stringify({ email, password: PASSWORD }) });
      expect(res.status).toBe(200);
      return (await res.json()) as { access_token: string; refresh_token: string };
    };
    const [revokedToken, first, second] = [await login(), await login(), await login()];
    const me = (token: string) => fetch(`${server!.url}/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    const logout = async (refreshToken: string) =>
      expect((await fetch(`${server!.url}/auth/logout`, { method: 'POST', headers: json, body: JSON.stringify({ refresh_token: refreshToken }) })).status).toBe(204);

    // A single access token revoked (RFC 7009): no SQL state of its own but the revocation log.
    const revoke = await fetch(`${server.url}/oauth/revoke`, {
      method: 'POST',
      headers: { ...basic(FEED_CLIENT), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: revokedToken.access_token }).toString(),
    });
    expect(revoke.status).toBe(200);
    expect((await me(revokedToken.access_token)).status).toBe(401);

    const stream = await open();
    await stream.until(() => stream.snapshots().length === 1, 'the snapshot');
    expect(stream.snapshots()[0]!.entries).toContainEqual(expect.objectContaining({ kind: 'token', jti: claims(revokedToken.access_token).jti }));
    const afterSnapshot = stream.lastId()!;
    await logout(first.refresh_token);
    await stream.until(() => stream.revocations().length === 1, 'the logout, live');
    expect(stream.revocations()[0]).toMatchObject({ kind: 'session', sid: claims(first.access_token).sid });
    const afterFirst = stream.lastId()!;
    await stream.until(() => stream.comments.includes('keep-alive'), 'a heartbeat', 5_000);
    // SIGTERM with the stream open: the draining server ends it rather than wait on it.
    const stopping = performance.now();
    expect(await server.stop('SIGTERM')).toBe(0);
    console.log(`SIGTERM with an open feed stream: exited in ${(performance.now() - stopping).toFixed(0)} ms`);
    await stream.until(() => stream.ended, 'the stream to end with the server');
    server = await startProcess({ env, port });

    // The single-token revocation survived the restart of the in-memory denylist.
    const after = await me(revokedToken.access_token);
    expect(after.status).toBe(401);
    expect(((await after.json()) as { code: string }).code).toBe('token_revoked');
    expect((await me(second.access_token)).status).toBe(200);

    // Cursors from before the restart still mean the same place.
    const resumed = await open({ 'last-event-id': afterFirst });
    await logout(second.refresh_token);
    await resumed.until(() => resumed.revocations().length === 1, 'the logout after the restart');
    expect(resumed.snapshots()).toEqual([]);
    expect(resumed.revocations()[0]).toMatchObject({ kind: 'session', sid: claims(second.access_token).sid });
    expect(Number(resumed.lastId())).toBeGreaterThan(Number(afterFirst));

    const fromSnapshot = await poll(server.url, afterSnapshot);
    expect(fromSnapshot.snapshot).toBe(false);
    expect(fromSnapshot.entries.map((e) => e.sid)).toEqual([claims(first.access_token).sid, claims(second.access_token).sid]);
    expect(fromSnapshot.next).toBe(resumed.lastId());
    const full = await poll(server.url);
    expect(full.snapshot).toBe(true);
    expect(full.entries).toContainEqual(expect.objectContaining({ kind: 'token', jti: claims(revokedToken.access_token).jti }));
  }, 120_000);
});

describe('two replicas on one Redis', () => {
  let cluster: Cluster;
  const streams: SseStream[] = [];
  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2, extraEnv: { INTROSPECTION_CLIENTS: `${CLIENT.id}:${CLIENT.secret},${FEED_CLIENTS_ENV}`, ...feedEnv } });
  }, 120_000);
  afterAll(async () => {
    for (const s of streams) s.close();
    await cluster?.stop();
  });

  it('refuses a client without credentials, and serves each replica the cursors of the other', async () => {
    const [a, b] = cluster.replicas as [TesseraProcess, TesseraProcess];
    const anonymous = await fetch(`${a.url}/revocations/stream`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain('entries');

    const onB = await SseStream.open(`${b.url}/revocations/stream`, basic(FEED_CLIENT));
    streams.push(onB);
    await onB.until(() => onB.snapshots().length === 1, 'the snapshot from B');
    const cursorFromA = (await poll(a.url)).next;

    const first = await registerAndLogin(a.url);
    const since = performance.now();
    expect((await post(a.url, '/auth/logout', { refresh_token: first.pair.refresh_token })).status).toBe(204);
    await onB.until(() => onB.revocations().some((e) => e.sid === claims(first.pair.access_token).sid), 'the logout on A, on B\'s stream');
    console.log(`logout on A reached a feed client of B in ${(performance.now() - since).toFixed(0)} ms`);
    const cursorFromB = onB.lastId()!;

    // A's cursor on B: exactly what followed it.
    const onBFromA = await poll(b.url, cursorFromA);
    expect(onBFromA.snapshot).toBe(false);
    expect(onBFromA.entries).toEqual([expect.objectContaining({ kind: 'session', sid: claims(first.pair.access_token).sid })]);

    // B's cursor on A's stream: nothing replayed, the next revocation live.
    const onA = await SseStream.open(`${a.url}/revocations/stream`, { ...basic(FEED_CLIENT), 'last-event-id': cursorFromB });
    streams.push(onA);
    const second = await registerAndLogin(b.url);
    expect((await post(b.url, '/auth/logout', { refresh_token: second.pair.refresh_token })).status).toBe(204);
    await onA.until(() => onA.revocations().length === 1, 'the logout on B, on A\'s stream');
    expect(onA.snapshots()).toEqual([]);
    expect(onA.revocations()[0]).toMatchObject({ kind: 'session', sid: claims(second.pair.access_token).sid });
  });
});
