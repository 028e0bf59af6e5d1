// A passkey as the second factor of a password login and as step-up (RFC 9470), the
// verifier's view of such tokens, the last way to sign in (409), and the admin API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequirements } from '@tessera/verifier';
import { toSeconds } from '../../src/clock.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, decodeJwt, expectProblem, login, PASSWORD, register, signUp, type Tokens } from '../helpers/flows.ts';
import { addPasskey, signInWith } from './support.ts';

const ADMIN = { id: 'ops', secret: 'ops-secret-for-passkey-tests' };
const adminAuth = { authorization: `Basic ${Buffer.from(`${ADMIN.id}:${ADMIN.secret}`).toString('base64')}` };
const MFA_ACR = 'urn:example:mfa';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ db: 'pglite', env: { ADMIN_CLIENTS: `${ADMIN.id}:${ADMIN.secret}`, ACR_MFA: MFA_ACR } });
});
afterAll(() => t.close());

async function passwordLoginNeedingPasskey() {
  const user = await register(t.fastify);
  const tokens = await login(t.fastify, user.email);
  const { authenticator, passkey } = await addPasskey(t.fastify, tokens.access_token, { userVerification: false });
  const res = await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } });
  const challenge = res.json() as { mfa_required: boolean; mfa_token: string; methods: string[] };
  return { user, tokens, authenticator, passkey, challenge };
}

const mfaOptions = (payload: object, headers: Record<string, string> = {}) => t.fastify.inject({ method: 'POST', url: '/auth/mfa/webauthn/options', payload, headers });

describe('passkey as the second factor of a password login', () => {
  it('answers mfa_required with webauthn, and /auth/mfa/verify takes the credential', async () => {
    const { user, authenticator, passkey, challenge } = await passwordLoginNeedingPasskey();
    expect(challenge).toMatchObject({ mfa_required: true, methods: ['webauthn'] });
    const options = await mfaOptions({ mfa_token: challenge.mfa_token });
    expect(options.statusCode, options.body).toBe(200);
    expect(options.json()).toMatchObject({ rpId: 'localhost', allowCredentials: [{ id: authenticator.id, type: 'public-key' }] });
    const credential = authenticator.assert(options.json());
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { mfa_token: challenge.mfa_token, credential } });
    expect(res.statusCode, res.body).toBe(200);
    const claims = decodeJwt((res.json() as Tokens).access_token).payload;
    // No UV from this authenticator: pwd + the key + presence; still multi-factor.
    expect(claims).toMatchObject({ sub: user.id, amr: ['pwd', 'hwk', 'user'], acr: MFA_ACR });
    expect(checkRequirements(claims as never, { mfa: true }, { now: toSeconds(t.clock.now()) })).toBeUndefined();
    // The mfa_token and the challenge were used together.
    expectProblem(await t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { mfa_token: challenge.mfa_token, credential } }), 401, 'invalid_mfa_token');
    const list = await t.fastify.inject({ method: 'GET', url: '/auth/passkeys', headers: bearer((res.json() as Tokens).access_token) });
    expect((list.json() as { passkeys: { id: string; last_used_at: string | null }[] }).passkeys.find((p) => p.id === passkey.id)?.last_used_at).not.toBeNull();
  });

  it("a challenge issued for one mfa_token does not complete another's login", async () => {
    const { user, authenticator, challenge } = await passwordLoginNeedingPasskey();
    const other = (await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })).json() as { mfa_token: string };
    const options = (await mfaOptions({ mfa_token: challenge.mfa_token })).json();
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { mfa_token: other.mfa_token, credential: authenticator.assert(options) } });
    expectProblem(res, 401, 'invalid_webauthn_challenge');
  });

  it('a bad signature is refused and leaves the mfa_token usable', async () => {
    const { authenticator, challenge } = await passwordLoginNeedingPasskey();
    const bad = authenticator.assert((await mfaOptions({ mfa_token: challenge.mfa_token })).json(), { corruptSignature: true });
    expectProblem(await t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { mfa_token: challenge.mfa_token, credential: bad } }), 401, 'invalid_passkey');
    const good = authenticator.assert((await mfaOptions({ mfa_token: challenge.mfa_token })).json());
    expect((await t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { mfa_token: challenge.mfa_token, credential: good } })).statusCode).toBe(200);
  });

  it('options need a live mfa_token or a bearer token; code and credential together are refused', async () => {
    expectProblem(await mfaOptions({ mfa_token: 'nope' }), 401, 'invalid_mfa_token');
    expectProblem(await mfaOptions({}), 401, 'invalid_token');
    const { challenge, authenticator } = await passwordLoginNeedingPasskey();
    const credential = authenticator.assert((await mfaOptions({ mfa_token: challenge.mfa_token })).json());
    const both = await t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { mfa_token: challenge.mfa_token, code: '123456', credential } });
    expectProblem(both, 400, 'validation_failed');
  });
});

describe('passkey step-up', () => {
  it('raises the session: auth_time becomes now; its challenge is single use', async () => {
    const { authenticator, challenge } = await passwordLoginNeedingPasskey();
    const first = authenticator.assert((await mfaOptions({ mfa_token: challenge.mfa_token })).json());
    const tokens = (await t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { mfa_token: challenge.mfa_token, credential: first } })).json() as Tokens;
    t.clock.advance(600_000);
    const options = await mfaOptions({}, bearer(tokens.access_token));
    expect(options.statusCode, options.body).toBe(200);
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/mfa/step-up', headers: bearer(tokens.access_token), payload: { credential: authenticator.assert(options.json()) } });
    expect(res.statusCode, res.body).toBe(200);
    const claims = decodeJwt((res.json() as { access_token: string }).access_token).payload;
    expect(claims.auth_time).toBe(toSeconds(t.clock.now()));
    expect(checkRequirements(claims as never, { mfa: true, maxAge: 60 }, { now: toSeconds(t.clock.now()) })).toBeUndefined();
    // Another session's challenge does not step this one up.
    const replay = await t.fastify.inject({ method: 'POST', url: '/auth/mfa/step-up', headers: bearer(tokens.access_token), payload: { credential: authenticator.assert(options.json()) } });
    expectProblem(replay, 401, 'invalid_webauthn_challenge');
  });
});

describe('the last way to sign in', () => {
  it('a passwordless account cannot remove its last passkey (409); with two, one goes', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const one = await addPasskey(t.fastify, tokens.access_token);
    const two = await addPasskey(t.fastify, tokens.access_token);
    await t.db.query('UPDATE users SET password_hash = NULL WHERE id = $1', [user.id]);
    const del = (id: string) => t.fastify.inject({ method: 'DELETE', url: `/auth/passkeys/${id}`, headers: bearer(tokens.access_token) });
    expect((await del(one.passkey.id)).statusCode).toBe(204);
    expectProblem(await del(two.passkey.id), 409, 'last_sign_in_method');
    expect(t.logs().some((l) => l.event === 'passkey.removed' && l.passkey_id === one.passkey.id && l.by === 'user')).toBe(true);
    // The password login of a NULL hash fails like a wrong password.
    const pw = await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } });
    expectProblem(pw, 401, 'invalid_credentials');
    // The remaining passkey signs in.
    expect((await signInWith(t.fastify, two.authenticator)).statusCode).toBe(200);
  });

  it('removal needs a recent sign-in', async () => {
    const { tokens } = await signUp(t.fastify);
    const { passkey } = await addPasskey(t.fastify, tokens.access_token);
    t.clock.advance(601_000);
    const res = await t.fastify.inject({ method: 'DELETE', url: `/auth/passkeys/${passkey.id}`, headers: bearer(tokens.access_token) });
    expectProblem(res, 401, 'insufficient_user_authentication');
  });
});

describe('admin API', () => {
  it('lists and removes a user’s passkeys; a password set by the operator keeps them', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const { passkey, authenticator } = await addPasskey(t.fastify, tokens.access_token);
    const reset = await t.fastify.inject({ method: 'PUT', url: `/admin/users/${user.id}/password`, headers: adminAuth, payload: { password: 'another long passphrase' } });
    expect(reset.statusCode, reset.body).toBe(200);
    const list = await t.fastify.inject({ method: 'GET', url: `/admin/users/${user.id}/passkeys`, headers: adminAuth });
    expect(list.json()).toEqual({ passkeys: [expect.objectContaining({ id: passkey.id })] });
    const removed = await t.fastify.inject({ method: 'DELETE', url: `/admin/users/${user.id}/passkeys/${passkey.id}`, headers: adminAuth });
    expect(removed.statusCode, removed.body).toBe(204);
    expect(t.logs().some((l) => l.event === 'passkey.removed' && l.admin_client === ADMIN.id)).toBe(true);
    expectProblem(await signInWith(t.fastify, authenticator), 401, 'invalid_passkey');
    expectProblem(await t.fastify.inject({ method: 'DELETE', url: `/admin/users/${user.id}/passkeys/${passkey.id}`, headers: adminAuth }), 404, 'not_found');
    expectProblem(await t.fastify.inject({ method: 'GET', url: `/admin/users/${crypto.randomUUID()}/passkeys`, headers: adminAuth }), 404, 'not_found');
  });
});
