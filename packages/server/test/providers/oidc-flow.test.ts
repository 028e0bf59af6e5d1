// The redirect flow against a real OpenID Provider (oidc-provider as "Acme" on loopback):
// sign-up, sign-in again, the single-use and binding rules of state and the one-time code,
// the allow-list, and a provider that is down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAcme, type Acme } from '../helpers/acme.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { decodeJwt, expectProblem, me, uniqueEmail } from '../helpers/flows.ts';
import { APP, callback, callbackUri, pkce, redeem, signInFlow, socialTokens, start, TESSERA, toCallback } from '../helpers/social.ts';

let acme: Acme;
/** A second provider, stopped halfway through a sign-in. */
let down: Acme;
let t: TestApp;

beforeAll(async () => {
  acme = await startAcme({ redirectUri: callbackUri() });
  down = await startAcme({ redirectUri: callbackUri('down'), name: 'down' });
  // One app for the file (starting one is slow on a busy machine); `gone` never answers.
  const gone = { PROVIDER_GONE_CLIENT_ID: 'x', PROVIDER_GONE_CLIENT_SECRET: 'y', PROVIDER_GONE_ISSUER: 'http://127.0.0.1:9' };
  t = await createTestApp({ db: 'pglite', env: { ...down.env(), ...gone, ...acme.env({ ISSUER: TESSERA, APP_URL: APP }), PROVIDERS: 'acme,down,gone' } });
}, 180_000);

afterAll(async () => {
  await t?.close();
  await acme?.close();
  await down?.close();
});

const newAccount = (extra: Partial<Acme['nextAccount']> = {}) => {
  acme.nextAccount = { sub: `sub-${Math.random().toString(36).slice(2)}`, email: uniqueEmail('acme'), email_verified: true, ...extra };
  return acme.nextAccount;
};

const count = async (sql: string, params: unknown[] = []) => Number((await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params))[0]!.n);

describe('provider sign-in (redirect flow)', () => {
  it('lists the configured providers', async () => {
    const res = await t.fastify.inject({ method: 'GET', url: '/auth/providers' });
    expect(res.json<{ providers: unknown[] }>().providers[0]).toEqual({ name: 'acme', display_name: 'acme', type: 'oidc' });
  });

  it('creates an account without a password on the first sign-in, and signs the same user in again', async () => {
    const account = newAccount();
    const tokens = await socialTokens(t.fastify);
    const claims = decodeJwt(tokens.access_token).payload;
    expect(claims.idp).toBe('acme');
    // Acme's ID token has no amr here: none in ours either (id-token.test.ts covers one that has).
    expect(claims.amr).toBeUndefined();
    const user = (await me(t.fastify, tokens.access_token)).json<{ id: string; email: string; email_verified: boolean }>();
    expect(user).toMatchObject({ email: account.email, email_verified: true });
    // No password: a password login fails like a wrong password.
    const login = await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: account.email, password: 'anything at all 123' } });
    expectProblem(login, 401, 'invalid_credentials');
    // Again: the identity signs the same user in; nothing new is created.
    const again = await socialTokens(t.fastify);
    expect(decodeJwt(again.access_token).payload.sub).toBe(user.id);
    expect(await count('identities WHERE user_id = $1', [user.id])).toBe(1);
    // The refresh keeps idp.
    const refreshed = await t.fastify.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: again.refresh_token } });
    expect(decodeJwt(refreshed.json<{ access_token: string }>().access_token).payload.idp).toBe('acme');
    const audit = t.logs().filter((l) => l.event === 'provider.login');
    expect(audit.at(-1)).toMatchObject({ provider: 'acme', user_id: user.id });
  });

  it('refuses a replayed state, an unknown state and an expired one with a plain problem (no redirect)', async () => {
    newAccount();
    const { callback: url } = await toCallback(t.fastify);
    expect((await callback(t.fastify, url)).statusCode).toBe(302);
    const replay = await callback(t.fastify, url);
    expectProblem(replay, 400, 'invalid_state');
    expect(replay.headers.location).toBeUndefined();
    const forged = new URL(url);
    forged.searchParams.set('state', 'forged-state-<script>');
    const res = await callback(t.fastify, forged);
    expectProblem(res, 400, 'invalid_state');
    expect(res.body).not.toContain('<script>');
    // Expired: 10 minutes on the injected clock.
    newAccount();
    const late = await toCallback(t.fastify);
    t.clock.advance(601_000);
    expectProblem(await callback(t.fastify, late.callback), 400, 'invalid_state');
  });

  it('uses the one-time code once, only with the right verifier', async () => {
    newAccount();
    const { location, verifier } = await signInFlow(t.fastify);
    const code = location.searchParams.get('code')!;
    expect(location.origin + location.pathname).toBe(`${APP}/signed-in`);
    expect((await redeem(t.fastify, code, verifier)).statusCode).toBe(200);
    expectProblem(await redeem(t.fastify, code, verifier), 401, 'invalid_grant');

    newAccount();
    const second = await signInFlow(t.fastify);
    const code2 = second.location.searchParams.get('code')!;
    expectProblem(await redeem(t.fastify, code2, pkce().verifier), 401, 'invalid_grant');
    // A wrong verifier used the code up.
    expectProblem(await redeem(t.fastify, code2, second.verifier), 401, 'invalid_grant');
  });

  it('refuses a redirect_to off the allow-list before anything goes to the provider', async () => {
    const flows = await count('provider_flows');
    for (const redirectTo of ['https://evil.example/', 'http://localhost:8080.evil.example/', 'http://localhost:8080@evil.example/', 'http://localhost:8081/', 'javascript:alert(1)']) {
      const res = await start(t.fastify, { redirectTo });
      expectProblem(res, 400, 'redirect_not_allowed');
    }
    expect(await count('provider_flows')).toBe(flows);
  });

  it('refuses an unknown provider and a plain challenge method', async () => {
    expectProblem(await start(t.fastify, { name: 'nosuch' }), 404, 'unknown_provider');
    const plain = await t.fastify.inject({
      method: 'POST',
      url: '/auth/providers/acme/start',
      payload: { redirect_to: `${APP}/x`, code_challenge: pkce().challenge, code_challenge_method: 'plain' },
    });
    expectProblem(plain, 400, 'validation_failed');
  });

  it('sends the provider\'s refusal (the user cancelled) back as ?error on the allowed URL', async () => {
    newAccount();
    const { callback: url } = await toCallback(t.fastify);
    const denied = new URL(`${TESSERA}/auth/providers/acme/callback`);
    denied.searchParams.set('state', url.searchParams.get('state')!);
    denied.searchParams.set('error', 'access_denied');
    const res = await callback(t.fastify, denied);
    expect(res.statusCode).toBe(302);
    const location = new URL(res.headers.location as string);
    expect(location.origin).toBe(APP);
    expect(location.searchParams.get('error')).toBe('access_denied');
  });

  it('is refused for a disabled user', async () => {
    newAccount();
    const tokens = await socialTokens(t.fastify);
    await t.db.query('UPDATE users SET disabled_at = now() WHERE id = $1', [decodeJwt(tokens.access_token).payload.sub]);
    const { location } = await signInFlow(t.fastify);
    expect(location.searchParams.get('error')).toBe('account_disabled');
    expect(t.logs().some((l) => l.event === 'provider.refused' && l.reason === 'account_disabled')).toBe(true);
  });
});

describe('a provider that is down', () => {
  it('answers ?error=provider_unavailable at the callback, creating nothing', async () => {
    down.nextAccount = { sub: 'down-user', email: uniqueEmail('down'), email_verified: true };
    const users = await count('users');
    const { callback: url } = await toCallback(t.fastify, { name: 'down' });
    await down.close();
    const res = await callback(t.fastify, url);
    expect(res.statusCode, res.body).toBe(302);
    expect(new URL(res.headers.location as string).searchParams.get('error')).toBe('provider_unavailable');
    expect(await count('users')).toBe(users);
  });

  it('answers 503 provider_unavailable at start when discovery fails, storing nothing', async () => {
    const flows = await count('provider_flows');
    expectProblem(await start(t.fastify, { name: 'gone' }), 503, 'provider_unavailable');
    expect(await count('provider_flows')).toBe(flows);
  });
});
