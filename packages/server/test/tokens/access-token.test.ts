// The access token must verify with independent libraries that fetch our JWKS over HTTP.
import jwt from 'jsonwebtoken';
import jwksRsa from 'jwks-rsa';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { freePort } from '../helpers/process.ts';
import { bearer, decodeJwt, PASSWORD, signUp, type Tokens } from '../helpers/flows.ts';
import { codeFor, enableTotp, nextStep } from '../helpers/totp.ts';

describe('RS256 access tokens (RFC 9068)', () => {
  let t: TestApp;
  let issuer: string;

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    t = await createTestApp({
      env: { ISSUER: issuer, AUDIENCE: 'https://api.example.com', CLIENT_ID: 'web-app', ACR_MFA: 'urn:example:loa:2', ADMIN_CLIENTS: 'ops:ops-secret' },
    });
    // The test app's clock is manual; keep it on real time so other libraries agree on exp.
    t.clock.set(Date.now());
    await t.fastify.listen({ port, host: '127.0.0.1' });
  });
  afterAll(() => t.close());

  it('has the RFC 9068 header and claims', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const { header, payload } = decodeJwt(tokens.access_token);
    expect(header).toEqual({ alg: 'RS256', typ: 'at+jwt', kid: t.keys.signingKey().kid });
    // RFC 9068 §2.2.1: how and when the user authenticated; no roles, no acr unless set.
    expect(Object.keys(payload).sort()).toEqual(['amr', 'aud', 'auth_time', 'client_id', 'exp', 'iat', 'iss', 'jti', 'sid', 'sub']);
    expect(payload.amr).toEqual(['pwd']);
    expect(payload.auth_time).toBe(payload.iat);
    expect(payload).toMatchObject({ iss: issuer, sub: user.id, aud: 'https://api.example.com', client_id: 'web-app' });
    expect(payload.exp).toBe((payload.iat as number) + 900);
    expect(tokens.expires_in).toBe(900);
    expect(tokens.token_type).toBe('Bearer');
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(payload.sid).toMatch(/^[0-9a-f-]{36}$/);
    // Nothing private in the token.
    expect(JSON.stringify(payload)).not.toContain(user.email);
  });

  it('verifies with jsonwebtoken + jwks-rsa fetching the JWKS', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const client = jwksRsa({ jwksUri: `${issuer}/.well-known/jwks.json` });
    const { header } = decodeJwt(tokens.access_token);
    const key = await client.getSigningKey(header.kid as string);
    const claims = jwt.verify(tokens.access_token, key.getPublicKey(), {
      algorithms: ['RS256'],
      issuer,
      audience: 'https://api.example.com',
    }) as jwt.JwtPayload;
    expect(claims.sub).toBe(user.id);
  });

  it("verifies with oauth4webapi's validateJwtAccessToken (enforces RFC 9068) after discovery", async () => {
    const { user, tokens } = await signUp(t.fastify);
    const issuerUrl = new URL(issuer);
    const discovery = await oauth.discoveryRequest(issuerUrl, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true });
    const as = await oauth.processDiscoveryResponse(issuerUrl, discovery);
    const request = new Request(`${issuer}/resource`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    const claims = await oauth.validateJwtAccessToken(as, request, 'https://api.example.com', { [oauth.allowInsecureRequests]: true });
    expect(claims.sub).toBe(user.id);
    expect(claims.client_id).toBe('web-app');
  });

  /** A token with everything: amr after a second factor, auth_time, acr and roles. */
  async function fullToken(): Promise<{ userId: string; token: string }> {
    const { user, tokens } = await signUp(t.fastify);
    const basic = { authorization: `Basic ${Buffer.from('ops:ops-secret').toString('base64')}` };
    expect((await t.fastify.inject({ method: 'PUT', url: `/admin/users/${user.id}/roles`, headers: basic, payload: { roles: ['admin', 'billing'] } })).statusCode).toBe(200);
    const { secret } = await enableTotp(t.fastify, tokens.access_token, t.clock.now());
    t.clock.set(nextStep(Date.now()) + 1_000);
    const raised = await t.fastify.inject({ method: 'POST', url: '/auth/mfa/step-up', headers: bearer(tokens.access_token), payload: { code: codeFor(secret, t.clock.now()) } });
    expect(raised.statusCode, raised.body).toBe(200);
    t.clock.set(Date.now());
    return { userId: user.id, token: raised.json<Tokens>().access_token };
  }

  it('carries amr, auth_time, acr and roles (RFC 9068 §2.2.1, §2.2.3.1), and they verify with jsonwebtoken + jwks-rsa and oauth4webapi', async () => {
    const { userId, token } = await fullToken();
    const { payload } = decodeJwt(token);
    expect(payload).toMatchObject({ sub: userId, amr: ['pwd', 'otp'], acr: 'urn:example:loa:2', roles: ['admin', 'billing'] });
    expect(typeof payload.auth_time).toBe('number');

    const client = jwksRsa({ jwksUri: `${issuer}/.well-known/jwks.json` });
    const key = await client.getSigningKey(decodeJwt(token).header.kid as string);
    const claims = jwt.verify(token, key.getPublicKey(), { algorithms: ['RS256'], issuer, audience: 'https://api.example.com', maxAge: '5m' }) as jwt.JwtPayload;
    expect(claims).toMatchObject({ sub: userId, amr: ['pwd', 'otp'], roles: ['admin', 'billing'] });

    const issuerUrl = new URL(issuer);
    const discovery = await oauth.discoveryRequest(issuerUrl, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true });
    const as = await oauth.processDiscoveryResponse(issuerUrl, discovery);
    const request = new Request(`${issuer}/resource`, { headers: { authorization: `Bearer ${token}` } });
    const validated = await oauth.validateJwtAccessToken(as, request, 'https://api.example.com', { [oauth.allowInsecureRequests]: true });
    expect(validated).toMatchObject({ sub: userId, acr: 'urn:example:loa:2', amr: ['pwd', 'otp'], roles: ['admin', 'billing'] });
  });

  it('a password-only login says so: amr ["pwd"], no acr when only ACR_MFA is set', async () => {
    const { tokens } = await signUp(t.fastify, { password: PASSWORD });
    const { payload } = decodeJwt(tokens.access_token);
    expect(payload.amr).toEqual(['pwd']);
    expect(payload).not.toHaveProperty('acr');
    expect(payload).not.toHaveProperty('roles');
  });
});
