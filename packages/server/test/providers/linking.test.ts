// The ID-token route's refusals, and the linking rules (no pre-account takeover), linking
// by a signed-in user, unlinking and the last way to sign in. Against Acme (oidc-provider).
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAcme, type Acme } from '../helpers/acme.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, decodeJwt, expectProblem, login, signUp, uniqueEmail } from '../helpers/flows.ts';
import { codeFor, enableTotp, nextStep } from '../helpers/totp.ts';
import { APP, callbackUri, redeem, signInFlow, TESSERA } from '../helpers/social.ts';

let acme: Acme;
let t: TestApp;

beforeAll(async () => {
  acme = await startAcme({ redirectUri: callbackUri() });
  t = await createTestApp({ db: 'pglite', env: acme.env({ ISSUER: TESSERA, APP_URL: APP, PROVIDER_ACME_AUDIENCES: 'com.example.ios' }) });
}, 180_000);

afterAll(async () => {
  await t?.close();
  await acme?.close();
});

const idTokenSignIn = (idToken: string, nonce?: string) =>
  t.fastify.inject({ method: 'POST', url: '/auth/providers/acme/id-token', payload: { id_token: idToken, ...(nonce ? { nonce } : {}) } });
const subject = () => `sub-${Math.random().toString(36).slice(2)}`;

describe('POST /auth/providers/{name}/id-token', () => {
  it('signs in with a valid ID token (nonce as sent, or its SHA-256 as Apple puts it; a native app audience)', async () => {
    const email = uniqueEmail('native');
    const token = await acme.signIdToken({ sub: subject(), email, email_verified: true, nonce: 'n-1', amr: ['pwd', 'mfa'] });
    const res = await idTokenSignIn(token, 'n-1');
    expect(res.statusCode, res.body).toBe(200);
    const claims = decodeJwt(res.json<{ access_token: string }>().access_token).payload;
    expect(claims).toMatchObject({ idp: 'acme', amr: ['pwd', 'mfa'] });
    const hashed = await acme.signIdToken({ sub: subject(), email: uniqueEmail(), email_verified: true, nonce: sha256hex('raw-nonce') });
    expect((await idTokenSignIn(hashed, 'raw-nonce')).statusCode).toBe(200);
    const ios = await acme.signIdToken({ sub: subject(), email: uniqueEmail(), email_verified: true, aud: 'com.example.ios' });
    expect((await idTokenSignIn(ios)).statusCode).toBe(200);
  });

  it.each([
    ['a wrong nonce', { nonce: 'other' }, 'sent'],
    ['a nonce in the token but none sent', { nonce: 'n' }, undefined],
    ['a wrong audience', { aud: 'someone-else' }, undefined],
    ['a wrong issuer', { iss: 'https://evil.example' }, undefined],
    ['an expired token', { exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 }, undefined],
  ])('refuses %s with invalid_id_token', async (_name, claims, nonce) => {
    const token = await acme.signIdToken({ sub: subject(), email: uniqueEmail(), email_verified: true, ...claims });
    expectProblem(await idTokenSignIn(token, nonce), 401, 'invalid_id_token');
  });

  it('refuses a bad signature (a key Acme does not publish, under its kid or another)', async () => {
    expectProblem(await idTokenSignIn(await acme.signIdToken({ sub: subject() }, { foreignKey: true })), 401, 'invalid_id_token');
    expectProblem(await idTokenSignIn(await acme.signIdToken({ sub: subject() }, { foreignKey: true, kid: 'other' })), 401, 'invalid_id_token');
    expect(t.logs().some((l) => l.event === 'provider.refused' && l.reason === 'invalid_id_token')).toBe(true);
  });

  it('refuses an unknown provider', async () => {
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/providers/nosuch/id-token', payload: { id_token: 'a.b.c' } });
    expectProblem(res, 404, 'unknown_provider');
  });
});

describe('linking without takeover', () => {
  it('refuses account_exists when the local account has not verified its email', async () => {
    const { user } = await signUp(t.fastify);
    const token = await acme.signIdToken({ sub: subject(), email: user.email, email_verified: true });
    expectProblem(await idTokenSignIn(token), 409, 'account_exists');
    expect(await identities(user.id)).toBe(0);
  });

  it('refuses account_exists when the provider says email_verified: false', async () => {
    const { user } = await signUp(t.fastify);
    await t.db.query('UPDATE users SET email_verified_at = now() WHERE id = $1', [user.id]);
    const token = await acme.signIdToken({ sub: subject(), email: user.email, email_verified: false });
    expectProblem(await idTokenSignIn(token), 409, 'account_exists');
    // The redirect flow says the same on the allowed URL.
    acme.nextAccount = { sub: subject(), email: user.email, email_verified: false };
    const { location } = await signInFlow(t.fastify);
    expect(location.searchParams.get('error')).toBe('account_exists');
    expect(await identities(user.id)).toBe(0);
  });

  it('links automatically when both sides verified the email, and signs that user in', async () => {
    const { user } = await signUp(t.fastify);
    await t.db.query('UPDATE users SET email_verified_at = now() WHERE id = $1', [user.id]);
    const token = await acme.signIdToken({ sub: subject(), email: user.email.toUpperCase(), email_verified: true });
    const res = await idTokenSignIn(token);
    expect(res.statusCode, res.body).toBe(200);
    expect(decodeJwt(res.json<{ access_token: string }>().access_token).payload.sub).toBe(user.id);
    expect(t.logs().some((l) => l.event === 'identity.linked' && l.user_id === user.id && l.by === 'verified_email')).toBe(true);
  });

  it('answers mfa_required for a user with a second factor; the code completes it with the provider amr and idp', async () => {
    const { user, tokens } = await signUp(t.fastify);
    await t.db.query('UPDATE users SET email_verified_at = now() WHERE id = $1', [user.id]);
    const { secret } = await enableTotp(t.fastify, tokens.access_token, t.clock.now());
    const res = await idTokenSignIn(await acme.signIdToken({ sub: subject(), email: user.email, email_verified: true }));
    expect(res.json()).toMatchObject({ mfa_required: true });
    t.clock.set(nextStep(t.clock.now()));
    const verify = await t.fastify.inject({
      method: 'POST',
      url: '/auth/mfa/verify',
      payload: { mfa_token: res.json<{ mfa_token: string }>().mfa_token, code: codeFor(secret, t.clock.now()) },
    });
    expect(verify.statusCode, verify.body).toBe(200);
    expect(decodeJwt(verify.json<{ access_token: string }>().access_token).payload).toMatchObject({ idp: 'acme', amr: ['otp'] });
  });
});

describe('linking and unlinking by a signed-in user', () => {
  it('links with a bearer start, lists, unlinks; the last way to sign in stays', async () => {
    const { user, tokens } = await signUp(t.fastify);
    acme.nextAccount = { sub: subject(), email: uniqueEmail('other'), email_verified: false };
    const { location, verifier } = await signInFlow(t.fastify, { headers: bearer(tokens.access_token) });
    const linked = await redeem(t.fastify, location.searchParams.get('code')!, verifier);
    expect(linked.statusCode, linked.body).toBe(200);
    const { identity } = linked.json<{ identity: { id: string; provider: string } }>();
    expect(identity.provider).toBe('acme');
    const list = await t.fastify.inject({ method: 'GET', url: '/auth/identities', headers: bearer(tokens.access_token) });
    expect(list.json<{ identities: { id: string }[] }>().identities.map((i) => i.id)).toEqual([identity.id]);
    // The same provider account cannot be linked to a second user.
    const other = await signUp(t.fastify);
    const again = await signInFlow(t.fastify, { headers: bearer(other.tokens.access_token) });
    expect(again.location.searchParams.get('error')).toBe('identity_taken');
    // Password + identity: the identity can go.
    const del = await t.fastify.inject({ method: 'DELETE', url: `/auth/identities/${identity.id}`, headers: bearer(tokens.access_token) });
    expect(del.statusCode, del.body).toBe(204);
    expect(await identities(user.id)).toBe(0);
    expect(t.logs().some((l) => l.event === 'identity.unlinked' && l.user_id === user.id)).toBe(true);
  });

  it('refuses to unlink the only way to sign in (409 last_sign_in_method), and asks for a recent sign-in', async () => {
    const token = await acme.signIdToken({ sub: subject(), email: uniqueEmail('only'), email_verified: true });
    const signedIn = (await idTokenSignIn(token)).json<{ access_token: string }>();
    const list = await t.fastify.inject({ method: 'GET', url: '/auth/identities', headers: bearer(signedIn.access_token) });
    const [only] = list.json<{ identities: { id: string }[] }>().identities;
    const del = await t.fastify.inject({ method: 'DELETE', url: `/auth/identities/${only!.id}`, headers: bearer(signedIn.access_token) });
    expectProblem(del, 409, 'last_sign_in_method');
  });

  it('asks for a recent sign-in (RFC 9470) to unlink', async () => {
    const { user, tokens } = await signUp(t.fastify);
    acme.nextAccount = { sub: subject(), email: user.email, email_verified: false };
    const { location, verifier } = await signInFlow(t.fastify, { headers: bearer(tokens.access_token) });
    const { identity } = (await redeem(t.fastify, location.searchParams.get('code')!, verifier)).json<{ identity: { id: string } }>();
    // Eleven minutes on: the access token (15 min) still works, its auth_time is too old.
    t.clock.advance(11 * 60_000);
    const stale = await t.fastify.inject({ method: 'DELETE', url: `/auth/identities/${identity.id}`, headers: bearer(tokens.access_token) });
    expectProblem(stale, 401, 'insufficient_user_authentication');
    expect(stale.headers['www-authenticate']).toContain('error="insufficient_user_authentication"');
    expect(stale.headers['www-authenticate']).toContain('max_age="600"');
    const fresh = await login(t.fastify, user.email);
    const del = await t.fastify.inject({ method: 'DELETE', url: `/auth/identities/${identity.id}`, headers: bearer(fresh.access_token) });
    expect(del.statusCode, del.body).toBe(204);
  });
});

describe('an account without a password', () => {
  it('proves a recent sign-in instead of a password (TOTP enrol, account deletion), else the RFC 9470 challenge', async () => {
    // Tessera's clock ran ahead in earlier tests: ID tokens valid on it.
    const times = () => ({ iat: Math.floor(t.clock.now() / 1000), exp: Math.floor(t.clock.now() / 1000) + 300 });
    const token = await acme.signIdToken({ sub: subject(), email: uniqueEmail('nopass'), email_verified: true, ...times() });
    const { access_token } = (await idTokenSignIn(token)).json<{ access_token: string }>();
    const enroll = await t.fastify.inject({ method: 'POST', url: '/auth/mfa/totp/enroll', headers: bearer(access_token), payload: {} });
    expect(enroll.statusCode, enroll.body).toBe(200);
    t.clock.advance(11 * 60_000);
    const stale = await t.fastify.inject({ method: 'DELETE', url: '/auth/account', headers: bearer(access_token), payload: {} });
    expectProblem(stale, 401, 'insufficient_user_authentication');
    const again = (await idTokenSignIn(await acme.signIdToken({ sub: decodeJwt(token).payload.sub as string, ...times() }))).json<{ access_token: string }>();
    const deleted = await t.fastify.inject({ method: 'DELETE', url: '/auth/account', headers: bearer(again.access_token), payload: {} });
    expect(deleted.statusCode, deleted.body).toBe(204);
  });

  it('still needs the password on an account that has one', async () => {
    const { tokens } = await signUp(t.fastify);
    const res = await t.fastify.inject({ method: 'DELETE', url: '/auth/account', headers: bearer(tokens.access_token), payload: {} });
    expectProblem(res, 400, 'validation_failed');
  });
});

async function identities(userId: string): Promise<number> {
  return Number((await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM identities WHERE user_id = $1', [userId]))[0]!.n);
}

function sha256hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
