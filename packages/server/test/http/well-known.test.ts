import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';

describe('JWKS and discovery', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ db: 'pglite', env: { ISSUER: 'https://auth.example.com', JWKS_MAX_AGE: '120' } });
  });
  afterAll(() => t.close());

  it('serves the JWKS with caching headers and answers 304 to a matching If-None-Match', async () => {
    const res = await t.fastify.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('public, max-age=120');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const etag = res.headers.etag as string;
    expect(etag).toMatch(/^"[\w-]+"$/);
    const body = res.json() as { keys: Record<string, string>[] };
    expect(body.keys).toHaveLength(1);
    expect(body.keys[0]!.kid).toBe(t.keys.signingKey().kid);
    for (const k of body.keys) for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k).not.toHaveProperty(secret);

    const again = await t.fastify.inject({ method: 'GET', url: '/.well-known/jwks.json', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    const stale = await t.fastify.inject({ method: 'GET', url: '/.well-known/jwks.json', headers: { 'if-none-match': '"other"' } });
    expect(stale.statusCode).toBe(200);
  });

  it('serves no OpenID configuration: Tessera is not an OpenID provider', async () => {
    const res = await t.fastify.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
    expect(res.statusCode).toBe(404);
  });

  it('serves RFC 8414 metadata an OAuth client library accepts', async () => {
    const res = await t.fastify.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' });
    const response = new Response(res.body, { status: res.statusCode, headers: { 'content-type': String(res.headers['content-type']) } });
    const metadata = await oauth.processDiscoveryResponse(new URL('https://auth.example.com'), response);
    expect(metadata.token_endpoint).toBe('https://auth.example.com/oauth/token');
    expect(metadata.authorization_endpoint).toBeUndefined();
  });

  it.each(['/.well-known/oauth-authorization-server'])('serves RFC 8414 metadata at %s', async (url) => {
    const res = await t.fastify.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(200);
    const meta = res.json() as Record<string, unknown>;
    expect(meta.issuer).toBe('https://auth.example.com');
    expect(meta.jwks_uri).toBe('https://auth.example.com/.well-known/jwks.json');
    expect(meta.token_endpoint).toBe('https://auth.example.com/oauth/token');
    expect(meta.revocation_endpoint).toBe('https://auth.example.com/oauth/revoke');
    expect(meta.introspection_endpoint).toBe('https://auth.example.com/oauth/introspect');
    expect(meta.grant_types_supported).toEqual(['refresh_token']);
    // Every advertised endpoint exists on this server.
    const urls = [meta.jwks_uri, meta.token_endpoint, meta.revocation_endpoint, meta.introspection_endpoint, ...Object.values(meta.tessera_endpoints as object)];
    for (const u of urls as string[]) {
      const path = new URL(u).pathname;
      const found = ['GET', 'POST'].some((method) => t.fastify.hasRoute({ method: method as 'GET', url: path }));
      expect(found, path).toBe(true);
    }
  });

  it('answers health and readiness', async () => {
    expect((await t.fastify.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await t.fastify.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', database: 'ok', denylist: 'ok', keys: 'ok' });
  });

  it('fails readiness while draining', async () => {
    t.app.startDraining();
    const ready = await t.fastify.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ status: 'not_ready', draining: true });
  });
});
