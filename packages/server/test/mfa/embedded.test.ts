// The embedded default (PGlite) runs the same SQL: the second factor and the admin API on it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, decodeJwt, expectProblem, PASSWORD, refresh, signUp, type Tokens } from '../helpers/flows.ts';
import { codeFor, enableTotp, nextStep } from '../helpers/totp.ts';

const admin = { authorization: `Basic ${Buffer.from('ops:ops-secret').toString('base64')}` };

describe('second factor and admin API on PGlite', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ db: 'pglite', env: { ADMIN_CLIENTS: 'ops:ops-secret' } });
  });
  afterAll(() => t?.close());

  it('enrol, login with a code, a recovery code once, step-up, roles, a page of users, reset', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const { secret, recoveryCodes } = await enableTotp(t.fastify, tokens.access_token, t.clock.now());
    const challenge = async () =>
      (await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })).json<{ mfa_token: string }>().mfa_token;
    const verify = (payload: Record<string, unknown>) => t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload });

    t.clock.set(nextStep(t.clock.now()) + 1_000);
    const code = codeFor(secret, t.clock.now());
    const done = await verify({ mfa_token: await challenge(), code });
    expect(done.statusCode, done.body).toBe(200);
    expectProblem(await verify({ mfa_token: await challenge(), code }), 401, 'invalid_mfa_code');
    expect((await verify({ mfa_token: await challenge(), recovery_code: recoveryCodes[3]! })).statusCode).toBe(200);
    expectProblem(await verify({ mfa_token: await challenge(), recovery_code: recoveryCodes[3]! }), 401, 'invalid_mfa_code');

    t.clock.set(nextStep(t.clock.now()) + 1_000);
    const raised = await t.fastify.inject({ method: 'POST', url: '/auth/mfa/step-up', headers: bearer(tokens.access_token), payload: { code: codeFor(secret, t.clock.now()) } });
    expect(decodeJwt(raised.json<Tokens>().access_token).payload.amr).toEqual(['pwd', 'otp']);

    expect((await t.fastify.inject({ method: 'PUT', url: `/admin/users/${user.id}/roles`, headers: admin, payload: { roles: ['ops'] } })).statusCode).toBe(200);
    const next = await refresh(t.fastify, tokens.refresh_token);
    expect(decodeJwt(next.json<Tokens>().access_token).payload).toMatchObject({ roles: ['ops'], amr: ['pwd', 'otp'] });
    const page = await t.fastify.inject({ method: 'GET', url: `/admin/users?query=${encodeURIComponent(user.email)}&limit=1`, headers: admin });
    expect(page.json()).toMatchObject({ users: [{ id: user.id, roles: ['ops'], mfa_enabled: true }], next_cursor: null });
    expect((await t.fastify.inject({ method: 'DELETE', url: `/admin/users/${user.id}/mfa`, headers: admin })).json()).toMatchObject({ mfa_enabled: false });
  });
});
