// The whole TOTP life cycle on two replicas (two app instances, one PostgreSQL schema, one
// keys/ folder), with every code computed by the tests' own RFC 6238 implementation.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { bearer, decodeJwt, expectProblem, login, PASSWORD, refresh, register, signUp, type Tokens } from '../helpers/flows.ts';
import { codeFor, enableTotp, nextStep } from '../helpers/totp.ts';

interface Challenge {
  mfa_required: true;
  mfa_token: string;
  expires_in: number;
  methods: string[];
}

describe('TOTP second factor across two replicas', () => {
  let testDb: TestDb;
  let a: TestApp;
  let b: TestApp;
  let now: number;
  /** Moves both replicas' clocks (they share one time, as servers with NTP do). */
  const setTime = (ms: number) => {
    now = ms;
    a.clock.set(ms);
    b.clock.set(ms);
  };
  const toNextStep = () => setTime(nextStep(now) + 1_000);

  beforeAll(async () => {
    testDb = await createTestDb('postgres');
    const keysDir = tempDir('tessera-keys-');
    a = await createTestApp({ db: testDb, keysDir });
    b = await createTestApp({ db: testDb, keysDir });
    setTime(Date.now());
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await testDb?.drop();
  });

  const passwordStep = async (app: TestApp, email: string, extra: Record<string, unknown> = {}): Promise<Challenge> => {
    const res = await app.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD, ...extra } });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<Challenge>();
    expect(body).not.toHaveProperty('access_token');
    expect(body).not.toHaveProperty('refresh_token');
    expect(res.cookies).toHaveLength(0);
    return body;
  };
  const verify = (app: TestApp, payload: Record<string, unknown>): Promise<LightMyRequestResponse> =>
    app.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload });

  it('enrol → confirm → login asks for the code → the code completes it, once', async () => {
    const { user, tokens } = await signUp(a.fastify);
    // The password is asked again.
    const wrong = await a.fastify.inject({ method: 'POST', url: '/auth/mfa/totp/enroll', headers: bearer(tokens.access_token), payload: { password: 'not the password' } });
    expectProblem(wrong, 401, 'invalid_credentials');

    const enroll = await a.fastify.inject({ method: 'POST', url: '/auth/mfa/totp/enroll', headers: bearer(tokens.access_token), payload: { password: PASSWORD } });
    expect(enroll.statusCode, enroll.body).toBe(200);
    expect(enroll.headers['cache-control']).toBe('no-store');
    const { secret, otpauth_uri } = enroll.json<{ secret: string; otpauth_uri: string }>();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(otpauth_uri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe(`/Tessera:${user.email}`);
    expect(Object.fromEntries(uri.searchParams)).toMatchObject({ secret, issuer: 'Tessera', algorithm: 'SHA1', digits: '6', period: '30' });

    // Not active before it is confirmed: the password alone still logs in.
    expect(await login(b.fastify, user.email)).toHaveProperty('access_token');
    // The secret is stored sealed, never as itself.
    const [row] = await testDb.db.query<{ secret_sealed: string }>('SELECT secret_sealed FROM mfa_totp WHERE user_id = $1', [user.id]);
    expect(row!.secret_sealed).not.toContain(secret);
    expect(row!.secret_sealed).toMatch(/^v1\./);

    const badConfirm = await b.fastify.inject({ method: 'POST', url: '/auth/mfa/totp/confirm', headers: bearer(tokens.access_token), payload: { code: codeFor(secret, now - 120_000) } });
    expectProblem(badConfirm, 401, 'invalid_mfa_code');
    // Confirmed on the other replica, with a code the user's app shows.
    const confirm = await b.fastify.inject({ method: 'POST', url: '/auth/mfa/totp/confirm', headers: bearer(tokens.access_token), payload: { code: codeFor(secret, now) } });
    expect(confirm.statusCode, confirm.body).toBe(200);
    const { recovery_codes } = confirm.json<{ recovery_codes: string[] }>();
    expect(recovery_codes).toHaveLength(10);
    const hashes = await testDb.db.query<{ code_hash: string }>('SELECT code_hash FROM mfa_recovery_codes WHERE user_id = $1', [user.id]);
    expect(hashes).toHaveLength(10);
    for (const code of recovery_codes) expect(JSON.stringify(hashes)).not.toContain(code.replace(/-/g, ''));

    const again = await a.fastify.inject({ method: 'POST', url: '/auth/mfa/totp/enroll', headers: bearer(tokens.access_token), payload: { password: PASSWORD } });
    expectProblem(again, 409, 'mfa_already_enabled');

    // The login now stops after the password.
    const challenge = await passwordStep(a, user.email);
    expect(challenge).toMatchObject({ mfa_required: true, expires_in: 300, methods: ['totp', 'recovery_code'] });
    expect(challenge.mfa_token).toMatch(/^mfa_[A-Za-z0-9_-]{43}$/);
    // The confirming code's step is used up: the same code cannot log in.
    expectProblem(await verify(a, { mfa_token: challenge.mfa_token, code: codeFor(secret, now) }), 401, 'invalid_mfa_code');
    toNextStep();
    const done = await verify(b, { mfa_token: challenge.mfa_token, code: codeFor(secret, now) });
    expect(done.statusCode, done.body).toBe(200);
    const pair = done.json<Tokens>();
    expect(pair.refresh_token).toMatch(/^rt_/);
    const claims = decodeJwt(pair.access_token).payload;
    expect(claims).toMatchObject({ sub: user.id, amr: ['pwd', 'otp'], auth_time: Math.floor(now / 1000) });
    // The mfa_token is single-use.
    toNextStep();
    expectProblem(await verify(a, { mfa_token: challenge.mfa_token, code: codeFor(secret, now) }), 401, 'invalid_mfa_token');

    // A refresh (on either replica) keeps how and when the user authenticated.
    setTime(now + 120_000);
    const refreshed = await refresh(a.fastify, pair.refresh_token);
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(decodeJwt(refreshed.json<Tokens>().access_token).payload).toMatchObject({ amr: ['pwd', 'otp'], auth_time: claims.auth_time });
  });

  it('a code is accepted once: a replay is refused on the other replica, and of two concurrent uses exactly one wins', async () => {
    const { user, tokens } = await signUp(a.fastify);
    const { secret } = await enableTotp(a.fastify, tokens.access_token, now);
    toNextStep();
    const code = codeFor(secret, now);
    const first = await passwordStep(a, user.email);
    expect((await verify(a, { mfa_token: first.mfa_token, code })).statusCode).toBe(200);
    const second = await passwordStep(b, user.email);
    expectProblem(await verify(b, { mfa_token: second.mfa_token, code }), 401, 'invalid_mfa_code');

    // Two logins racing with the next code on the two replicas.
    toNextStep();
    const race = codeFor(secret, now);
    const [x, y] = await Promise.all([passwordStep(a, user.email), passwordStep(b, user.email)]);
    const answers = await Promise.all([verify(a, { mfa_token: x.mfa_token, code: race }), verify(b, { mfa_token: y.mfa_token, code: race })]);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 401]);
    expect(answers.find((r) => r.statusCode === 401)!.json()).toMatchObject({ code: 'invalid_mfa_code' });

    // The loser's mfa_token survives a wrong code: the next step's code completes it.
    const loser = answers[0]!.statusCode === 401 ? x : y;
    // An older step than one already used is refused too (RFC 6238 §5.2), even within the drift window.
    expectProblem(await verify(a, { mfa_token: loser.mfa_token, code: codeFor(secret, now - 30_000) }), 401, 'invalid_mfa_code');
    // One step of drift ahead (a phone whose clock runs fast) is accepted.
    expect((await verify(b, { mfa_token: loser.mfa_token, code: codeFor(secret, now + 30_000) })).statusCode).toBe(200);
  });

  it('a recovery code works once, also when two logins race with it', async () => {
    const { user, tokens } = await signUp(a.fastify);
    const { recoveryCodes } = await enableTotp(a.fastify, tokens.access_token, now);
    const [x, y] = await Promise.all([passwordStep(a, user.email), passwordStep(b, user.email)]);
    const code = recoveryCodes[0]!.toUpperCase(); // typed in capitals: still the same code
    const answers = await Promise.all([verify(a, { mfa_token: x.mfa_token, recovery_code: code }), verify(b, { mfa_token: y.mfa_token, recovery_code: code })]);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 401]);
    const winner = answers.find((r) => r.statusCode === 200)!.json<Tokens>();
    expect(decodeJwt(winner.access_token).payload.amr).toEqual(['pwd', 'otp']);
    const z = await passwordStep(a, user.email);
    expectProblem(await verify(a, { mfa_token: z.mfa_token, recovery_code: recoveryCodes[0]! }), 401, 'invalid_mfa_code');
    expect((await verify(b, { mfa_token: z.mfa_token, recovery_code: recoveryCodes[1]! })).statusCode).toBe(200);
    const used = a.logs().find((l) => l.event === 'mfa.recovery_code_used' && l.user_id === user.id) ?? b.logs().find((l) => l.event === 'mfa.recovery_code_used' && l.user_id === user.id);
    expect(used).toMatchObject({ recovery_codes_left: 9 });
  });

  it('remember and token_delivery of the login carry over; the mfa_token dies after 5 minutes and with a password change', async () => {
    const { user, tokens } = await signUp(a.fastify);
    const { secret } = await enableTotp(a.fastify, tokens.access_token, now);
    const cookieLogin = await passwordStep(a, user.email, { token_delivery: 'cookie', remember: true });
    toNextStep();
    const res = await verify(b, { mfa_token: cookieLogin.mfa_token, code: codeFor(secret, now) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).not.toHaveProperty('refresh_token');
    const cookie = res.cookies.find((c) => c.name === b.config.cookieName)!;
    expect(cookie.httpOnly).toBe(true);
    // remember: true → a persistent cookie for the long lifetime.
    expect(cookie.maxAge).toBeGreaterThan(b.config.refreshShortTtl);

    const stale = await passwordStep(a, user.email);
    setTime(now + 301_000);
    expectProblem(await verify(a, { mfa_token: stale.mfa_token, code: codeFor(secret, now) }), 401, 'invalid_mfa_token');

    const bound = await passwordStep(a, user.email);
    toNextStep();
    const change = await a.fastify.inject({
      method: 'POST',
      url: '/auth/password',
      headers: bearer(res.json<Tokens>().access_token),
      payload: { current_password: PASSWORD, new_password: 'another long passphrase' },
    });
    expect(change.statusCode, change.body).toBe(200);
    expectProblem(await verify(b, { mfa_token: bound.mfa_token, code: codeFor(secret, now) }), 401, 'invalid_mfa_token');
  });

  it('GET /auth/mfa follows the factor: off, still off while unconfirmed, on with ten codes, one fewer per code used, off after removal', async () => {
    const { user, tokens } = await signUp(a.fastify);
    const status = async (app: TestApp) => {
      const res = await app.fastify.inject({ method: 'GET', url: '/auth/mfa', headers: bearer(tokens.access_token) });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      return res.json();
    };
    expectProblem(await a.fastify.inject({ method: 'GET', url: '/auth/mfa' }), 401, 'invalid_token');
    expect(await status(a)).toEqual({ totp: { active: false, recovery_codes_left: 0 } });
    await a.fastify.inject({ method: 'POST', url: '/auth/mfa/totp/enroll', headers: bearer(tokens.access_token), payload: { password: PASSWORD } });
    expect(await status(b)).toEqual({ totp: { active: false, recovery_codes_left: 0 } });
    const { secret, recoveryCodes } = await enableTotp(a.fastify, tokens.access_token, now);
    expect(await status(b)).toEqual({ totp: { active: true, recovery_codes_left: 10 } });
    const challenge = await passwordStep(a, user.email);
    expect((await verify(a, { mfa_token: challenge.mfa_token, recovery_code: recoveryCodes[3]! })).statusCode).toBe(200);
    expect(await status(a)).toEqual({ totp: { active: true, recovery_codes_left: 9 } });
    toNextStep();
    const removed = await b.fastify.inject({ method: 'DELETE', url: '/auth/mfa/totp', headers: bearer(tokens.access_token), payload: { password: PASSWORD, code: codeFor(secret, now) } });
    expect(removed.statusCode, removed.body).toBe(204);
    expect(await status(a)).toEqual({ totp: { active: false, recovery_codes_left: 0 } });
  });

  it('removing the factor needs the password and a code', async () => {
    const { user, tokens } = await signUp(a.fastify);
    const { secret, recoveryCodes } = await enableTotp(a.fastify, tokens.access_token, now);
    const remove = (payload: Record<string, unknown>) =>
      b.fastify.inject({ method: 'DELETE', url: '/auth/mfa/totp', headers: bearer(tokens.access_token), payload });
    toNextStep();
    expectProblem(await remove({ password: PASSWORD }), 400, 'validation_failed');
    expectProblem(await remove({ password: 'wrong password!', code: codeFor(secret, now) }), 401, 'invalid_credentials');
    expectProblem(await remove({ password: PASSWORD, code: codeFor(secret, now - 90_000) }), 401, 'invalid_mfa_code');
    expectProblem(await remove({ password: PASSWORD, recovery_code: 'aaaa-bbbb-cccc-dddd' }), 401, 'invalid_mfa_code');
    expect((await remove({ password: PASSWORD, code: codeFor(secret, now) })).statusCode).toBe(204);
    expectProblem(await remove({ password: PASSWORD, recovery_code: recoveryCodes[0]! }), 401, 'invalid_mfa_code');
    // The password alone logs in again.
    expect(await login(a.fastify, user.email)).toHaveProperty('access_token');
  });

  it('step-up raises a password-only session in place: amr gains otp, auth_time is now, refreshes keep it', async () => {
    const user = await register(a.fastify);
    const old = await login(a.fastify, user.email); // logged in before the factor existed: pwd only
    const { secret } = await enableTotp(a.fastify, old.access_token, now);
    expect(decodeJwt(old.access_token).payload.amr).toEqual(['pwd']);
    setTime(now + 600_000);
    toNextStep();
    const stepUp = (payload: Record<string, unknown>) =>
      b.fastify.inject({ method: 'POST', url: '/auth/mfa/step-up', headers: bearer(old.access_token), payload });
    expectProblem(await stepUp({ code: '000000' === codeFor(secret, now) ? '111111' : '000000' }), 401, 'invalid_mfa_code');
    const res = await stepUp({ code: codeFor(secret, now) });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<Tokens>();
    expect(body).not.toHaveProperty('refresh_token');
    expect(body.token_type).toBe('Bearer');
    const raised = decodeJwt(body.access_token).payload;
    expect(raised).toMatchObject({ amr: ['pwd', 'otp'], auth_time: Math.floor(now / 1000), sid: decodeJwt(old.access_token).payload.sid });
    const later = await refresh(a.fastify, old.refresh_token);
    expect(decodeJwt(later.json<Tokens>().access_token).payload).toMatchObject({ amr: ['pwd', 'otp'], auth_time: raised.auth_time });
    // A user without a factor cannot step up.
    const { tokens: other } = await signUp(a.fastify);
    expectProblem(await a.fastify.inject({ method: 'POST', url: '/auth/mfa/step-up', headers: bearer(other.access_token), payload: { code: '123456' } }), 401, 'invalid_mfa_code');
  });
});

describe('wrong codes count toward the per-account back-off', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_ENABLED: 'true', LOGIN_FAILURES_BEFORE_BACKOFF: '3' } });
  });
  afterAll(() => t?.close());

  it('refuses every code, even the right one, while the window lasts; the password step does not reset it', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const { secret } = await enableTotp(t.fastify, tokens.access_token, t.clock.now());
    t.clock.set(nextStep(t.clock.now()) + 1_000);
    const start = async () => (await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })).json<Challenge>();
    const wrongCode = codeFor(secret, t.clock.now() - 300_000);
    const verify = (mfaToken: string, code: string) => t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { mfa_token: mfaToken, code } });
    const first = await start();
    for (let i = 0; i < 3; i++) expectProblem(await verify(first.mfa_token, wrongCode), 401, 'invalid_mfa_code');
    // A fresh password step (which clears the login counters) does not clear the code counter.
    const second = await start();
    const blocked = expectProblem(await verify(second.mfa_token, codeFor(secret, t.clock.now())), 429, 'rate_limited');
    expect(blocked.detail).toMatch(/codes/);
    t.clock.advance(2_000);
    expect((await verify(second.mfa_token, codeFor(secret, t.clock.now()))).statusCode).toBe(200);
    const events = t.logs().filter((l) => l.event === 'mfa.failed' && l.user_id === user.id).map((l) => l.reason);
    expect(events).toEqual(['invalid_mfa_code', 'invalid_mfa_code', 'invalid_mfa_code', 'rate_limited']);
  });
});
