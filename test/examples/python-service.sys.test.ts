// The Python example service on its own, against a stand-in issuer (real JWKS over HTTP) and
// a protocol-conforming fake feed: every verification rule its README prescribes, the three
// kinds of revocation, refused feed credentials and a silent stream. The end-to-end run with
// real replicas is test/e2e/feed-services.test.ts.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pythonJwt, skipUnless } from '../lib/requirements.ts';
import { FakeFeed } from '../../packages/verifier/test/fake-feed.ts';
import { startTestIssuer, type TestIssuer } from '../../packages/verifier/test/issuer.ts';
import { startPythonService as startService, type PythonService } from '../lib/python-service.ts';

const suite = skipUnless(pythonJwt);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowS = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function eventually(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(25);
  }
}

suite('examples/python-service', () => {
  let idp: TestIssuer;
  let feed: FakeFeed;
  let service: PythonService;
  const others: PythonService[] = [];

  const call = async (token?: string, url = service.url) => {
    const res = await fetch(`${url}/api/profile`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { code?: string; detail?: string; sub?: string };
    return { status: res.status, body, challenge: res.headers.get('www-authenticate') };
  };

  beforeAll(async () => {
    idp = await startTestIssuer();
    feed = await new FakeFeed().start();
    feed.revoke({ kind: 'session', sid: 'sid-before', expires_at: nowS() + 900 });
    service = await startService({
      ISSUER: idp.issuer,
      TESSERA_FEED_URL: feed.url, TESSERA_FEED_CLIENT_ID: feed.clientId, TESSERA_FEED_CLIENT_SECRET: feed.clientSecret,
    });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([service, ...others].map((s) => s?.stop()));
    await feed?.close();
    await idp?.close();
  });

  it('accepts a valid token and refuses every kind of bad one with 401 and a Bearer challenge', async () => {
    const ok = await call(idp.sign({ sub: 'alice' }));
    expect(ok.status).toBe(200);
    expect(ok.body.sub).toBe('alice');

    const none = await call();
    expect(none.status).toBe(401);
    expect(none.challenge).toBe('Bearer realm="tessera"'); // no error without credentials (RFC 6750 §3.1)

    const jwk = (await (await fetch(idp.jwksUri)).json()) as { keys: crypto.JsonWebKey[] };
    const publicPem = crypto.createPublicKey({ key: jwk.keys[0]!, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const claims = { iss: idp.issuer, sub: 'mallory', aud: 'tessera', iat: nowS(), exp: nowS() + 900, jti: 'j', client_id: 'tessera', sid: 's' };
    const hsInput = `${b64({ alg: 'HS256', typ: 'at+jwt', kid: idp.kid })}.${b64(claims)}`;
    const confused = `${hsInput}.${crypto.createHmac('sha256', publicPem).update(hsInput).digest('base64url')}`;
    const past = nowS() - 3600;
    const bad: [string, string][] = [
      ['a forged signature', idp.forge()],
      ['alg none', `${b64({ alg: 'none', typ: 'at+jwt', kid: idp.kid })}.${b64(claims)}.`],
      ['HS256 keyed with the public key', confused],
      ['typ JWT (not an access token)', idp.sign({}, { typ: 'JWT' })],
      ['a jku header', idp.sign({}, { jku: 'https://evil.example/jwks.json' })],
      ['an unknown kid', idp.sign({}, { kid: 'nope' })],
      ['another audience', idp.sign({ aud: 'someone-else' })],
      ['another issuer', idp.sign({ iss: 'https://evil.example' })],
      ['an expired token', idp.sign({ iat: past - 900, exp: past })],
      ['a token issued in the future', idp.sign({ iat: nowS() + 600, exp: nowS() + 1200 })],
      ['a lifetime longer than ACCESS_TOKEN_TTL + 60', idp.sign({ exp: nowS() + 7200 })],
      ['a missing sid', idp.sign({ sid: undefined })],
      ['not a JWT', 'garbage'],
    ];
    for (const [name, token] of bad) {
      const res = await call(token);
      expect(res.status, name).toBe(401);
      expect(res.body.code, name).toBe('invalid_token');
      expect(res.challenge, name).toBe('Bearer realm="tessera", error="invalid_token", error_description="The access token is invalid"');
    }
  });

  it('honours session, token and user revocations, from the snapshot and live', async () => {
    expect((await call(idp.sign({ sid: 'sid-before' }))).body.code).toBe('token_revoked');
    const session = idp.sign({ sid: 'sid-live' });
    const token = idp.sign({ jti: 'jti-live' });
    const oldOfUser = idp.sign({ sub: 'bob', iat: nowS() - 30 });
    for (const t of [session, token, oldOfUser]) expect((await call(t)).status).toBe(200);

    feed.revoke({ kind: 'session', sid: 'sid-live', expires_at: nowS() + 900 });
    feed.revoke({ kind: 'token', jti: 'jti-live', expires_at: nowS() + 900 });
    feed.revoke({ kind: 'user', sub: 'bob', not_before: nowS() - 10, expires_at: nowS() + 900 });
    for (const t of [session, token, oldOfUser]) await eventually(async () => (await call(t)).body.code === 'token_revoked', 'revoked');
    const revoked = await call(session);
    expect(revoked.status).toBe(401);
    expect(revoked.challenge).toBe('Bearer realm="tessera", error="invalid_token", error_description="The access token has been revoked"');
    // Issued after the user's cut-off: still good.
    expect((await call(idp.sign({ sub: 'bob' }))).status).toBe(200);
  });

  it('with wrong feed credentials: not ready, says 401 in its log, never logs the secret', async () => {
    const wrong = await startService(
      { ISSUER: idp.issuer, TESSERA_FEED_URL: feed.url, TESSERA_FEED_CLIENT_ID: feed.clientId, TESSERA_FEED_CLIENT_SECRET: 'not-the-secret' },
      { readyPath: '/healthz' },
    );
    others.push(wrong);
    await eventually(() => wrong.output().includes('revocation feed answered HTTP 401 (check the client id and secret)'), 'the 401 logged');
    const ready = await fetch(`${wrong.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ revocation: 'degraded' });
    expect(wrong.output()).not.toContain('not-the-secret');
  });

  it('starts from a snapshot when its state file is unreadable, and writes a good one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-python-state-'));
    const stateFile = path.join(dir, 'feed.json');
    fs.writeFileSync(stateFile, '{"cursor": "7", "entr');
    const before = feed.requests.length;
    try {
      const fresh = await startService({
        ISSUER: idp.issuer, FEED_STATE_FILE: stateFile,
        TESSERA_FEED_URL: feed.url, TESSERA_FEED_CLIENT_ID: feed.clientId, TESSERA_FEED_CLIENT_SECRET: feed.clientSecret,
      });
      others.push(fresh);
      expect(fresh.output()).toContain(`ignoring unreadable ${stateFile}`);
      // (the service with wrong credentials of the test before is still knocking: its 401s are not ours)
      expect(feed.requests.slice(before).find((r) => r.answered !== 401)).toMatchObject({ lastEventId: undefined, answered: 'snapshot' });
      expect((await call(idp.sign({ sid: 'sid-before' }), fresh.url)).body.code).toBe('token_revoked');
      feed.revoke({ kind: 'session', sid: 'sid-after-restart', expires_at: nowS() + 900 });
      await eventually(() => (JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { cursor: string }).cursor === feed.head, 'the state file follows the cursor');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('drops a silent stream after FEED_HEARTBEAT_TIMEOUT_SECONDS and resumes with Last-Event-ID', async () => {
    const quiet = await startService({
      ISSUER: idp.issuer, FEED_HEARTBEAT_TIMEOUT_SECONDS: '1',
      TESSERA_FEED_URL: feed.url, TESSERA_FEED_CLIENT_ID: feed.clientId, TESSERA_FEED_CLIENT_SECRET: feed.clientSecret,
    });
    others.push(quiet);
    const before = feed.requests.length;
    feed.stalled = true;
    try {
      await eventually(() => quiet.output().includes('revocation feed connection lost: timed out'), 'the silent stream dropped', 10_000);
    } finally {
      feed.stalled = false;
    }
    await eventually(() => feed.requests.slice(before).some((r) => r.lastEventId === feed.head && r.answered === 'stream'), 'a resume with the cursor');
  });
});
