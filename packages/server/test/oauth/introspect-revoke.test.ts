// RFC 7662 introspection and RFC 7009 revocation, driven by a standard OAuth client
// (oauth4webapi) the way a resource server would call them.
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { me, refresh, signUp } from '../helpers/flows.ts';
import { freePort } from '../helpers/process.ts';

const CLIENT_ID = 'orders-api';
const SECRET = 'orders secret: with spaces & symbols';

describe('OAuth introspection and revocation', () => {
  let t: TestApp;
  let as: oauth.AuthorizationServer;
  const client: oauth.Client = { client_id: CLIENT_ID };
  const auth = oauth.ClientSecretBasic(SECRET);
  const insecure = { [oauth.allowInsecureRequests]: true };

  beforeAll(async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    t = await createTestApp({ env: { ISSUER: issuer, INTROSPECTION_CLIENTS: `${CLIENT_ID}:${SECRET},other:x` } });
    t.clock.set(Date.now());
    await t.fastify.listen({ port, host: '127.0.0.1' });
    const issuerUrl = new URL(issuer);
    as = await oauth.processDiscoveryResponse(issuerUrl, await oauth.discoveryRequest(issuerUrl, { algorithm: 'oauth2', ...insecure }));
  });
  afterAll(() => t.close());

  const introspect = async (token: string) =>
    oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, token, insecure));
  const revoke = async (token: string, hint?: string) =>
    oauth.processRevocationResponse(
      await oauth.revocationRequest(as, client, auth, token, { ...insecure, ...(hint ? { additionalParameters: { token_type_hint: hint } } : {}) }),
    );

  it('lists both endpoints in the discovery metadata', () => {
    expect(as.introspection_endpoint).toMatch(/\/oauth\/introspect$/);
    expect(as.revocation_endpoint).toMatch(/\/oauth\/revoke$/);
  });

  it('introspects a live access token with its claims', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const result = await introspect(tokens.access_token);
    expect(result).toMatchObject({ active: true, sub: user.id, client_id: 'tessera', token_type: 'Bearer' });
    expect(typeof result.exp).toBe('number');
    expect(typeof result.jti).toBe('string');
    expect(result.sid).toBeDefined();
    // RFC 9470 §6.2: how and when the user authenticated.
    expect(result).toMatchObject({ amr: ['pwd'], auth_time: result.iat });
  });

  it('introspects a live refresh token, and a rotated one as inactive', async () => {
    const { user, tokens } = await signUp(t.fastify);
    expect(await introspect(tokens.refresh_token)).toMatchObject({ active: true, sub: user.id, token_type: 'refresh_token' });
    expect((await refresh(t.fastify, tokens.refresh_token)).statusCode).toBe(200);
    expect(await introspect(tokens.refresh_token)).toEqual({ active: false });
  });

  it('answers active: false, and nothing else, for unknown, expired and revoked tokens', async () => {
    expect(await introspect('not-a-token')).toEqual({ active: false });
    expect(await introspect(`rt_${'A'.repeat(43)}`)).toEqual({ active: false });
    const { tokens } = await signUp(t.fastify);
    t.clock.advance(1_000_000);
    expect(await introspect(tokens.access_token)).toEqual({ active: false });
    t.clock.set(Date.now());
  });

  it('revokes an access token on its own: introspection and /auth/me reject it, the session lives on', async () => {
    const { tokens } = await signUp(t.fastify);
    await revoke(tokens.access_token, 'access_token');
    expect(await introspect(tokens.access_token)).toEqual({ active: false });
    expect((await me(t.fastify, tokens.access_token)).json()).toMatchObject({ code: 'token_revoked' });
    expect((await refresh(t.fastify, tokens.refresh_token)).statusCode).toBe(200);
  });

  it('revokes a refresh token: its session and its access tokens die', async () => {
    const { tokens } = await signUp(t.fastify);
    await revoke(tokens.refresh_token);
    expect(await introspect(tokens.refresh_token)).toEqual({ active: false });
    expect(await introspect(tokens.access_token)).toEqual({ active: false });
    expect((await refresh(t.fastify, tokens.refresh_token)).statusCode).toBe(401);
  });

  it('answers 200 for unknown tokens (RFC 7009)', async () => {
    await expect(revoke('unknown-token')).resolves.toBeUndefined();
    await expect(revoke(`rt_${'B'.repeat(43)}`, 'refresh_token')).resolves.toBeUndefined();
  });

  it('requires client authentication', async () => {
    const { tokens } = await signUp(t.fastify);
    for (const bad of [oauth.ClientSecretBasic('wrong'), oauth.None()]) {
      const res = await oauth.introspectionRequest(as, client, bad, tokens.access_token, insecure);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: 'invalid_client' });
      const rev = await oauth.revocationRequest(as, client, bad, tokens.access_token, insecure);
      expect(rev.status).toBe(401);
    }
    // The token was not revoked by the unauthenticated call.
    expect((await me(t.fastify, tokens.access_token)).statusCode).toBe(200);
  });
});
