import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, DenylistMirror } from '@tessera/verifier';
import { tesseraAuth, type TesseraAuthOptions } from '@tessera/verifier/fastify';
import { bearer, signUp } from '../helpers/flows.ts';
import { accessHeader, attackerKeys, forgeToken } from '../helpers/forge.ts';
import { freePort } from '../helpers/process.ts';
import { listeningTessera, type ListeningTessera } from './kit.ts';

let tessera: ListeningTessera;
let token: string;

beforeAll(async () => {
  tessera = await listeningTessera();
  token = (await signUp(tessera.t.fastify)).tokens.access_token;
});
afterAll(() => tessera.t.close());

/** A resource service: the plugin registered at the root, routes in an encapsulated child. */
async function resourceApp(options: Partial<TesseraAuthOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(tesseraAuth, { issuer: tessera.issuer, audience: 'tessera', ...options } as TesseraAuthOptions);
  await app.register(async (routes) => {
    routes.get('/private', { preHandler: routes.requireAuth }, async (request) => request.auth);
    routes.get('/maybe', { preHandler: routes.optionalAuth }, async (request) => ({ auth: request.auth ?? null }));
  });
  await app.ready();
  return app;
}

function expectUnauthorized(res: LightMyRequestResponse, code: string, reason: string) {
  expect(res.statusCode, res.body).toBe(401);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ type: `urn:tessera:error:${code}`, status: 401, code, reason });
  expect(typeof res.json<{ detail: string }>().detail).toBe('string');
  return res;
}

describe('tesseraAuth plugin', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await resourceApp({ cache: true });
  });
  afterAll(() => app.close());

  it('puts the verified claims on request.auth', async () => {
    const res = await app.inject({ url: '/private', headers: bearer(token) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ iss: tessera.issuer, aud: 'tessera', client_id: 'tessera' });
    expect(res.json<{ sub: string }>().sub).toMatch(/[0-9a-f-]{36}/);
  });

  it('answers 401 without an error code when no token is sent (RFC 6750 §3.1)', async () => {
    const res = expectUnauthorized(await app.inject({ url: '/private' }), 'invalid_token', 'missing_token');
    expect(res.headers['www-authenticate']).toBe('Bearer realm="tessera"');
  });

  it('answers 401 invalid_token with the reason for a bad token', async () => {
    const junk = forgeToken({ header: accessHeader('nope'), payload: { iss: tessera.issuer }, key: attackerKeys().privateKey });
    const cases: [Record<string, string>, string][] = [
      [bearer(`${token}x`), 'invalid_signature'],
      [bearer(junk), 'unknown_kid'],
      [bearer('not-a-jwt'), 'malformed'],
      [{ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, 'malformed'],
      [{ authorization: `Bearer ${token} extra` }, 'malformed'],
    ];
    for (const [headers, reason] of cases) {
      const res = expectUnauthorized(await app.inject({ url: '/private', headers }), 'invalid_token', reason);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="tessera", error="invalid_token"/);
    }
  });

  it('optionalAuth passes without a token, sets auth with one and still refuses a bad one', async () => {
    expect((await app.inject({ url: '/maybe' })).json()).toEqual({ auth: null });
    expect((await app.inject({ url: '/maybe', headers: bearer(token) })).json<{ auth: { iss: string } }>().auth.iss).toBe(tessera.issuer);
    expectUnauthorized(await app.inject({ url: '/maybe', headers: bearer('a.b.c') }), 'invalid_token', 'malformed');
  });

  it('exposes the verifier on the instance', async () => {
    await expect(app.verifier.verify(token)).resolves.toMatchObject({ iss: tessera.issuer });
  });
});

describe('tesseraAuth with a verifier and a denylist', () => {
  it('answers 401 token_revoked for a revoked session', async () => {
    const mirror = new DenylistMirror();
    const verifier = createVerifier({ issuer: tessera.issuer, audience: 'tessera', revocation: { mirror } });
    const app = await resourceApp({ verifier } as Partial<TesseraAuthOptions>);
    expect((await app.inject({ url: '/private', headers: bearer(token) })).statusCode).toBe(200);
    const { sid } = await verifier.verify(token);
    mirror.apply({ kind: 'session', id: sid, until: Date.now() + 60_000 });
    const res = expectUnauthorized(await app.inject({ url: '/private', headers: bearer(token) }), 'token_revoked', 'revoked');
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    await app.close();
    // The plugin did not create this verifier, so it does not close it.
    await expect(verifier.verify(`${token}x`)).rejects.toMatchObject({ code: 'invalid_signature' });
    await verifier.close();
  });

  it('answers 503 service_unavailable while the JWKS cannot be fetched', async () => {
    const app = await resourceApp({ jwksUri: `http://127.0.0.1:${await freePort()}/jwks.json` });
    const res = await app.inject({ url: '/private', headers: bearer(token) });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.json()).toMatchObject({ code: 'service_unavailable', reason: 'jwks_unavailable' });
    await app.close();
  });

  it('closes the verifier it created when the app closes', async () => {
    const app = await resourceApp();
    const { verifier } = app;
    await app.close();
    await expect(verifier.verify(token)).rejects.toThrow(/closed/);
  });

  it('fails registration on bad options', async () => {
    const app = Fastify();
    await expect(app.register(tesseraAuth, { issuer: tessera.issuer } as TesseraAuthOptions)).rejects.toThrow(/"audience"/);
    await app.close();
  });

  it('decorates the encapsulation context it is registered in, like fastify-plugin', async () => {
    const app = Fastify();
    await app.register(async (scope) => {
      await scope.register(tesseraAuth, { issuer: tessera.issuer, audience: 'tessera' });
      scope.get('/scoped', { preHandler: scope.requireAuth }, async (request) => ({ sub: request.auth?.sub }));
    });
    await app.ready();
    expect(app.hasDecorator('requireAuth')).toBe(false);
    expect((await app.inject({ url: '/scoped', headers: bearer(token) })).statusCode).toBe(200);
    expect((await app.inject({ url: '/scoped' })).statusCode).toBe(401);
    await app.close();
  });
});
