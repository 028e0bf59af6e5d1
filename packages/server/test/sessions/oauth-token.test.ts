// /oauth/token as an off-the-shelf OAuth client sees it: oauth4webapi over real HTTP.
import crypto from 'node:crypto';
import net from 'node:net';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { decodeJwt, signUp } from '../helpers/flows.ts';
import { SECOND } from './support.ts';

/** A port the OS just handed out and took back: the app listens on it next. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  return port;
}

/** Expects an RFC 6749 §5.2 error thrown by oauth4webapi's response processing. */
async function expectOAuthError(promise: Promise<unknown>, status: number, error: string) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(oauth.ResponseBodyError);
  const body = err as oauth.ResponseBodyError;
  expect(body.status).toBe(status);
  expect(body.error).toBe(error);
  expect(typeof body.error_description).toBe('string');
  expect(Object.keys(body.cause).sort()).toEqual(['error', 'error_description']);
  return body;
}

describe('/oauth/token with oauth4webapi', () => {
  let t: TestApp;
  let issuer: string;
  let as: oauth.AuthorizationServer;
  const client: oauth.Client = { client_id: 'tessera' };
  const clientAuth = oauth.None();
  const insecure = { [oauth.allowInsecureRequests]: true } as const;

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    t = await createTestApp({ env: { ISSUER: issuer } });
    await t.fastify.listen({ host: '127.0.0.1', port });
    as = { issuer, token_endpoint: `${issuer}/oauth/token` };
  });
  afterAll(() => t?.close());

  const grant = (refreshToken: string) =>
    oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshToken, insecure).then((res) => oauth.processRefreshTokenResponse(as, client, res));

  it('rotates a refresh token', async () => {
    const { user, tokens } = await signUp(t.fastify);
    t.clock.advance(SECOND);

    const result = await grant(tokens.refresh_token);
    expect(result.token_type).toBe('bearer'); // oauth4webapi lower-cases it
    expect(result.expires_in).toBe(t.config.accessTokenTtl);
    expect(result.refresh_token).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
    expect(result.refresh_token).not.toBe(tokens.refresh_token);
    expect(result.refresh_token_expires_in).toBe(t.config.refreshShortTtl - 1);

    const claims = decodeJwt(result.access_token).payload;
    expect(claims).toMatchObject({ iss: issuer, sub: user.id, sid: decodeJwt(tokens.access_token).payload.sid });
    const meRes = await fetch(`${issuer}/auth/me`, { headers: { authorization: `Bearer ${result.access_token}` } });
    expect(meRes.status).toBe(200);
    expect(((await meRes.json()) as { id: string }).id).toBe(user.id);

    // And again with the rotated token: the chain goes on.
    const next = await grant(result.refresh_token!);
    expect(next.refresh_token).not.toBe(result.refresh_token);
  });

  it('an invalid refresh token → 400 invalid_grant in RFC 6749 form', async () => {
    const unknown = `rt_${crypto.randomBytes(32).toString('base64url')}`;
    const err = await expectOAuthError(grant(unknown), 400, 'invalid_grant');
    expect(err.response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(err.response.headers.get('cache-control')).toBe('no-store');
    await expectOAuthError(grant('junk'), 400, 'invalid_grant');
  });

  it('a reused refresh token after the grace window → 400 invalid_grant, and the session is gone', async () => {
    const { tokens } = await signUp(t.fastify);
    const next = await grant(tokens.refresh_token);
    t.clock.advance((t.config.refreshGracePeriod + 1) * SECOND);
    await expectOAuthError(grant(tokens.refresh_token), 400, 'invalid_grant');
    await expectOAuthError(grant(next.refresh_token!), 400, 'invalid_grant');
  });

  it('an expired session → 400 invalid_grant', async () => {
    const { tokens } = await signUp(t.fastify);
    t.clock.advance(t.config.refreshShortTtl * SECOND);
    await expectOAuthError(grant(tokens.refresh_token), 400, 'invalid_grant');
  });

  it('an unsupported grant_type → 400 unsupported_grant_type', async () => {
    const res = await oauth.genericTokenEndpointRequest(as, client, clientAuth, 'client_credentials', {}, insecure);
    await expectOAuthError(oauth.processGenericTokenEndpointResponse(as, client, res), 400, 'unsupported_grant_type');
  });

  it('a missing refresh_token → 400 invalid_request', async () => {
    const res = await oauth.genericTokenEndpointRequest(as, client, clientAuth, 'refresh_token', {}, insecure);
    await expectOAuthError(oauth.processGenericTokenEndpointResponse(as, client, res), 400, 'invalid_request');
  });

  it('a JSON body → 400 invalid_request', async () => {
    const { tokens } = await signUp(t.fastify);
    const res = await fetch(as.token_endpoint!, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.error).toBe('invalid_request');
    expect(typeof body.error_description).toBe('string');
    // The token was not consumed.
    const ok = await grant(tokens.refresh_token);
    expect(ok.refresh_token).not.toBe(tokens.refresh_token);
  });
});
