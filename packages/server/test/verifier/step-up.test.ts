// RFC 9470 step-up end to end: a resource service (the verifier's Fastify plugin) with
// per-route requirements in front of a real Tessera. A password-only token meets the exact
// challenge, the user's second factor (login or step-up) gets them in; roles answer 403.
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequirements, stepUpChallenge, validateRequirements } from '@tessera/verifier';
import { tesseraAuth } from '@tessera/verifier/fastify';
import { ManualClock } from '../../src/clock.ts';
import { bearer, decodeJwt, login, PASSWORD, register, type Tokens } from '../helpers/flows.ts';
import { codeFor, enableTotp } from '../helpers/totp.ts';
import { listeningTessera, type ListeningTessera } from './kit.ts';

const MFA_ACR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';
const ADMIN = { id: 'ops', secret: 'ops-secret-for-tests' };
const adminAuth = { authorization: `Basic ${Buffer.from(`${ADMIN.id}:${ADMIN.secret}`).toString('base64')}` };

let tessera: ListeningTessera;
let service: FastifyInstance;

beforeAll(async () => {
  // Started an hour ago, so its signing key is older than any token the tests back-date.
  tessera = await listeningTessera({ clock: new ManualClock(Date.now() - 3_600_000), env: { ADMIN_CLIENTS: `${ADMIN.id}:${ADMIN.secret}` } });
  tessera.t.clock.set(Date.now());
  service = Fastify();
  await service.register(tesseraAuth, { issuer: tessera.issuer, audience: 'tessera', cache: true });
  // Both forms of requireAuth, side by side.
  service.get('/profile', { preHandler: service.requireAuth }, async (request) => ({ sub: request.auth!.sub }));
  service.post('/transfers', { preHandler: service.requireAuth({ mfa: true }) }, async (request) => ({ amr: request.auth!.amr }));
  service.post('/close-account', { preHandler: service.requireAuth({ maxAge: 300 }) }, async () => ({ ok: true }));
  service.post('/wire', { preHandler: service.requireAuth({ mfa: true, maxAge: 300 }) }, async () => ({ ok: true }));
  service.get('/admin', { preHandler: service.requireAuth({ roles: ['admin', 'support'] }) }, async (request) => ({ roles: request.auth!.roles }));
  await service.ready();
});
afterAll(async () => {
  await service?.close();
  await tessera?.t.close();
});

const call = (method: 'GET' | 'POST', url: string, token: string): Promise<LightMyRequestResponse> => service.inject({ method, url, headers: bearer(token) });

function expectStepUp(res: LightMyRequestResponse, challenge: string, reason: string) {
  expect(res.statusCode, res.body).toBe(401);
  expect(res.headers['www-authenticate']).toBe(challenge);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status: 401, code: 'insufficient_user_authentication', reason });
}

describe('requireAuth with requirements', () => {
  it('mfa: true refuses a password-only token with the RFC 9470 challenge, and accepts the token of /auth/mfa/verify', async () => {
    const t = tessera.t;
    // A minute ago: logged in and enrolled, so the code of this step is still unused now.
    t.clock.set(Date.now() - 60_000);
    const user = await register(t.fastify);
    const passwordOnly = await login(t.fastify, user.email);
    expect((await call('GET', '/profile', passwordOnly.access_token)).statusCode).toBe(200);
    expectStepUp(
      await call('POST', '/transfers', passwordOnly.access_token),
      `Bearer error="insufficient_user_authentication", error_description="A second factor is required", acr_values="${MFA_ACR}"`,
      'mfa_required',
    );

    const { secret } = await enableTotp(t.fastify, passwordOnly.access_token, t.clock.now());
    t.clock.set(Date.now());
    const challenge = (await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })).json<{ mfa_token: string }>();
    const verified = await t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { mfa_token: challenge.mfa_token, code: codeFor(secret, t.clock.now()) } });
    expect(verified.statusCode, verified.body).toBe(200);
    const strong = verified.json<Tokens>();
    const ok = await call('POST', '/transfers', strong.access_token);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toEqual({ amr: ['pwd', 'otp'] });
  });

  it('maxAge refuses an old auth_time with max_age in the challenge; a step-up makes it fresh', async () => {
    const t = tessera.t;
    const user = await register(t.fastify);
    const real = Date.now();
    // Logged in ten minutes ago; the access token is still valid (15 min).
    t.clock.set(real - 600_000);
    const old = await login(t.fastify, user.email);
    t.clock.set(real);
    expect(decodeJwt(old.access_token).payload.auth_time).toBe(Math.floor((real - 600_000) / 1000));
    expectStepUp(
      await call('POST', '/close-account', old.access_token),
      'Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", max_age="300"',
      'authentication_too_old',
    );
    // Both requirements unmet: one challenge names both, so one step-up satisfies both.
    expectStepUp(
      await call('POST', '/wire', old.access_token),
      `Bearer error="insufficient_user_authentication", error_description="A second factor is required", acr_values="${MFA_ACR}", max_age="300"`,
      'mfa_required',
    );

    t.clock.set(real - 60_000);
    const { secret } = await enableTotp(t.fastify, old.access_token, t.clock.now());
    t.clock.set(Date.now());
    const stepUp = await t.fastify.inject({ method: 'POST', url: '/auth/mfa/step-up', headers: bearer(old.access_token), payload: { code: codeFor(secret, t.clock.now()) } });
    expect(stepUp.statusCode, stepUp.body).toBe(200);
    const fresh = stepUp.json<Tokens>().access_token;
    expect((await call('POST', '/close-account', fresh)).statusCode).toBe(200);
    expect((await call('POST', '/wire', fresh)).statusCode).toBe(200);
    t.clock.set(Date.now());
  });

  it('roles: a token without one of them gets 403 insufficient_scope; after the admin grants one, the next token has it', async () => {
    const t = tessera.t;
    const user = await register(t.fastify);
    const tokens = await login(t.fastify, user.email);
    const denied = await call('GET', '/admin', tokens.access_token);
    expect(denied.statusCode).toBe(403);
    expect(denied.headers['www-authenticate']).toBe('Bearer realm="tessera", error="insufficient_scope", error_description="One of these roles is required: admin, support"');
    expect(denied.json()).toMatchObject({ status: 403, code: 'insufficient_scope', reason: 'missing_role' });

    const grant = await t.fastify.inject({ method: 'PUT', url: `/admin/users/${user.id}/roles`, headers: adminAuth, payload: { roles: ['support'] } });
    expect(grant.statusCode, grant.body).toBe(200);
    const refreshed = await t.fastify.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token } });
    const withRole = refreshed.json<Tokens>();
    expect(decodeJwt(withRole.access_token).payload.roles).toEqual(['support']);
    const allowed = await call('GET', '/admin', withRole.access_token);
    expect(allowed.statusCode, allowed.body).toBe(200);
    expect(allowed.json()).toEqual({ roles: ['support'] });
  });

  it('validates requirements when the route is declared, naming the bad option', () => {
    expect(() => service.requireAuth({ mfa: 'yes' } as never)).toThrow(/"mfa"/);
    expect(() => service.requireAuth({ maxAge: -1 })).toThrow(/"maxAge"/);
    expect(() => service.requireAuth({ roles: [] })).toThrow(/"roles"/);
    expect(() => service.requireAuth({ mfaa: true } as never)).toThrow(/unknown option "mfaa"/);
    expect(typeof service.requireAuth()).toBe('function');
  });

  it('the building blocks work without Fastify', () => {
    const now = 1_800_000_000;
    const claims = { iss: 'x', sub: 's', aud: 'a', exp: now + 60, iat: now, jti: 'j', client_id: 'c', sid: 'i', amr: ['pwd'], auth_time: now - 400 };
    const requirements = validateRequirements({ mfa: true, maxAge: 300 });
    const failure = checkRequirements(claims, requirements, { now, mfaAcr: 'urn:example:mfa' });
    expect(failure).toMatchObject({ error: 'insufficient_user_authentication', acrValues: 'urn:example:mfa', maxAge: 300 });
    expect(stepUpChallenge(failure as never)).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A second factor is required", acr_values="urn:example:mfa", max_age="300"',
    );
    expect(checkRequirements({ ...claims, amr: ['pwd', 'otp'], auth_time: now - 10 }, requirements, { now })).toBeUndefined();
    // A missing or malformed auth_time never passes a maxAge.
    expect(checkRequirements({ ...claims, amr: ['otp'], auth_time: 'yesterday' as unknown as number }, requirements, { now })).toMatchObject({ maxAge: 300 });
  });
});
