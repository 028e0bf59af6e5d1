// Passkeys end to end on the embedded database: registration, the list, renaming, removal,
// passwordless sign-in, and that such a sign-in is a session like any other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequirements } from '@tessera/verifier';
import { toSeconds } from '../../src/clock.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, decodeJwt, expectProblem, login, me, PASSWORD, refresh, register, signUp, type Tokens } from '../helpers/flows.ts';
import { SoftwareAuthenticator } from '../helpers/webauthn-authenticator.ts';
import { addPasskey, loginOptions, registrationOptions, signInWith } from './support.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ db: 'pglite' });
});
afterAll(() => t.close());

describe('registration', () => {
  it('asks for a discoverable credential and excludes the passkeys already registered', async () => {
    const { tokens } = await signUp(t.fastify);
    const first = await registrationOptions(t.fastify, tokens.access_token);
    expect(first.rp).toEqual({ name: 'Tessera', id: 'localhost' });
    expect(first.authenticatorSelection).toMatchObject({ residentKey: 'required', requireResidentKey: true });
    expect(first.excludeCredentials).toEqual([]);
    const { authenticator } = await addPasskey(t.fastify, tokens.access_token);
    const second = await registrationOptions(t.fastify, tokens.access_token);
    expect(second.excludeCredentials?.map((c) => c.id)).toEqual([authenticator.id]);
  });

  it('answers the passkey, lists it, renames it, and audits the registration', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const { passkey } = await addPasskey(t.fastify, tokens.access_token, { synced: true }, 'Phone');
    expect(passkey).toMatchObject({ name: 'Phone', backed_up: true, transports: ['internal', 'hybrid'], last_used_at: null });
    expect(Object.keys(passkey).sort()).toEqual(['backed_up', 'created_at', 'id', 'last_used_at', 'name', 'transports']);
    const list = await t.fastify.inject({ method: 'GET', url: '/auth/passkeys', headers: bearer(tokens.access_token) });
    expect(list.json()).toEqual({ passkeys: [passkey] });
    const renamed = await t.fastify.inject({ method: 'PATCH', url: `/auth/passkeys/${passkey.id}`, headers: bearer(tokens.access_token), payload: { name: 'Work phone' } });
    expect(renamed.json()).toMatchObject({ id: passkey.id, name: 'Work phone' });
    expect(t.logs().some((l) => l.event === 'passkey.registered' && l.user_id === user.id)).toBe(true);
    const otherUser = await signUp(t.fastify);
    const foreign = await t.fastify.inject({ method: 'PATCH', url: `/auth/passkeys/${passkey.id}`, headers: bearer(otherUser.tokens.access_token), payload: { name: 'Mine' } });
    expectProblem(foreign, 404, 'not_found');
  });

  it('needs a sign-in within 10 minutes, else the RFC 9470 challenge', async () => {
    const { tokens } = await signUp(t.fastify);
    t.clock.advance(601_000);
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/passkeys/register/options', headers: bearer(tokens.access_token) });
    const body = expectProblem(res, 401, 'insufficient_user_authentication');
    expect(body).toMatchObject({ max_age: 600 });
    expect(res.headers['www-authenticate']).toMatch(/^Bearer .*error="insufficient_user_authentication".*max_age="600"/);
  });
});

describe('passwordless sign-in', () => {
  it('opens a session like any other: amr, refresh rotation, logout everywhere', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const { authenticator } = await addPasskey(t.fastify, tokens.access_token);
    const options = await loginOptions(t.fastify);
    expect(options).toMatchObject({ rpId: 'localhost', userVerification: 'required', allowCredentials: [] });
    const res = await signInWith(t.fastify, authenticator);
    expect(res.statusCode, res.body).toBe(200);
    const pair = res.json() as Tokens;
    const claims = decodeJwt(pair.access_token).payload;
    expect(claims).toMatchObject({ sub: user.id, amr: ['hwk', 'user', 'mfa'] });
    // @tessera/verifier's requireAuth({ mfa: true }) takes a UV passkey sign-in as multi-factor.
    expect(checkRequirements(claims as never, { mfa: true, maxAge: 60 }, { now: toSeconds(t.clock.now()) })).toBeUndefined();
    expect((await me(t.fastify, pair.access_token)).statusCode).toBe(200);
    const rotated = await refresh(t.fastify, pair.refresh_token);
    expect(rotated.statusCode).toBe(200);
    expect(decodeJwt((rotated.json() as Tokens).access_token).payload.amr).toEqual(['hwk', 'user', 'mfa']);
    const all = await t.fastify.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(pair.access_token) });
    expect(all.statusCode).toBe(204);
    expectProblem(await me(t.fastify, (rotated.json() as Tokens).access_token), 401, 'token_revoked');
    const line = t.logs().find((l) => l.event === 'passkey.login' && l.user_id === user.id);
    expect(line).toMatchObject({ amr: ['hwk', 'user', 'mfa'] });
  });

  it('says swk for a synced passkey, and accepts its counter 0 again and again', async () => {
    const { tokens } = await signUp(t.fastify);
    const { authenticator } = await addPasskey(t.fastify, tokens.access_token, { synced: true });
    for (let i = 0; i < 2; i++) {
      const res = await signInWith(t.fastify, authenticator);
      expect(res.statusCode, res.body).toBe(200);
      expect(decodeJwt((res.json() as Tokens).access_token).payload.amr).toEqual(['swk', 'user', 'mfa']);
    }
  });

  it('delivers the refresh token as a cookie when asked', async () => {
    const { tokens } = await signUp(t.fastify);
    const { authenticator } = await addPasskey(t.fastify, tokens.access_token);
    const res = await t.fastify.inject({
      method: 'POST',
      url: '/auth/passkeys/login',
      payload: { credential: authenticator.assert(await loginOptions(t.fastify)), token_delivery: 'cookie' },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).not.toHaveProperty('refresh_token');
    expect(String(res.headers['set-cookie'])).toMatch(/tessera_refresh=/);
  });
});

describe('accounts', () => {
  it('deleting the account removes its passkeys', async () => {
    const user = await register(t.fastify);
    const tokens = await login(t.fastify, user.email);
    const { authenticator } = await addPasskey(t.fastify, tokens.access_token);
    const count = async () => Number((await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM passkeys WHERE user_id = $1', [user.id]))[0]!.n);
    expect(await count()).toBe(1);
    const removed = await t.fastify.inject({ method: 'DELETE', url: '/auth/account', headers: bearer(tokens.access_token), payload: { password: PASSWORD } });
    expect(removed.statusCode, removed.body).toBe(204);
    expect(await count()).toBe(0);
    const res = await signInWith(t.fastify, authenticator);
    expectProblem(res, 401, 'invalid_passkey');
  });

  it('a software authenticator never registered is refused', async () => {
    const res = await signInWith(t.fastify, Object.assign(new SoftwareAuthenticator(), { userHandle: 'AAAAAAAAAAAAAAAAAAAAAA' }));
    expectProblem(res, 401, 'invalid_passkey');
  });
});
