// The package on its own: createVerifier and the Fastify plugin against a stand-in issuer.
// The suites in packages/server/test/verifier run it against a real Tessera.
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { createVerifier, DenylistMirror } from '@tessera/verifier';
import { tesseraAuth } from '@tessera/verifier/fastify';
import { refusalCode, useTestIssuer } from './issuer.ts';

const idp = useTestIssuer();


describe('createVerifier', () => {
  it('accepts a token signed by a published key and returns its claims', async () => {
    const verifier = createVerifier({ issuer: idp().issuer, audience: 'tessera' });
    const claims = await verifier.verify(idp().sign({ sub: 'user-1' }));
    expect(claims.sub).toBe('user-1');
    await verifier.close();
  });

  it('refuses a forgery, a wrong audience, an expired token and an alg other than RS256, each with its code', async () => {
    const verifier = createVerifier({ issuer: idp().issuer, audience: 'tessera' });
    expect(await refusalCode(verifier.verify(idp().forge()))).toBe('invalid_signature');
    expect(await refusalCode(verifier.verify(idp().sign({ aud: 'someone-else' })))).toBe('invalid_audience');
    const past = Math.floor(Date.now() / 1000) - 3600;
    expect(await refusalCode(verifier.verify(idp().sign({ iat: past - 900, exp: past })))).toBe('expired');
    expect(await refusalCode(verifier.verify(idp().sign({}, { alg: 'none' })))).toBe('unsupported_alg');
    await verifier.close();
  });

  it('honours a revocation in the mirror, and fetches the JWKS once for many tokens', async () => {
    const mirror = new DenylistMirror();
    const before = idp().jwksRequests();
    const verifier = createVerifier({ issuer: idp().issuer, audience: 'tessera', revocation: { mirror }, cache: true });
    const token = idp().sign({ sid: 'session-1' });
    await verifier.verify(token);
    for (let i = 0; i < 20; i++) await verifier.verify(idp().sign());
    expect(idp().jwksRequests() - before).toBe(1);
    mirror.apply({ kind: 'session', id: 'session-1', until: Date.now() + 60_000 });
    expect(await refusalCode(verifier.verify(token))).toBe('revoked');
    await verifier.close();
  });

  it('names the bad option', () => {
    expect(() => createVerifier({ issuer: '', audience: 'tessera' })).toThrow(/"issuer"/);
    expect(() => createVerifier({ issuer: idp().issuer, audience: 'tessera', cache: 'yes' as never })).toThrow(/"cache"/);
  });
});

describe('the Fastify plugin', () => {
  it('answers 200 with a valid token, 401 problem+json with WWW-Authenticate otherwise', async () => {
    const app = Fastify();
    await app.register(tesseraAuth, { issuer: idp().issuer, audience: 'tessera' });
    app.get('/me', { preHandler: app.requireAuth }, async (request) => ({ sub: request.auth!.sub }));
    const ok = await app.inject({ url: '/me', headers: { authorization: `Bearer ${idp().sign({ sub: 'u' })}` } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ sub: 'u' });
    const forged = await app.inject({ url: '/me', headers: { authorization: `Bearer ${idp().forge()}` } });
    expect(forged.statusCode).toBe(401);
    expect(forged.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(forged.json()).toMatchObject({ code: 'invalid_token' });
    expect(forged.headers['www-authenticate']).toMatch(/^Bearer realm="tessera", error="invalid_token"/);
    const none = await app.inject({ url: '/me' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="tessera"');
    await app.close();
  });
});
