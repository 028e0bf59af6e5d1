// Ten wrong authenticator codes without a success lock the account's authenticator codes
// for 24 hours (429 mfa_locked with Retry-After), on /auth/mfa/verify, /auth/mfa/step-up and
// the removal alike; recovery codes still work, and the owner is mailed once per lock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MFA_LOCK_MS, MFA_LOCK_THRESHOLD } from '../../src/throttle/login-throttle.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, expectProblem, PASSWORD, signUp } from '../helpers/flows.ts';
import { FileMailbox } from '../helpers/mailbox.ts';
import { codeFor, enableTotp, nextStep } from '../helpers/totp.ts';

const LOCKED_SUBJECT = 'Someone who knows your password is trying codes';

describe('second-factor lock', () => {
  let t: TestApp;
  let mailbox: FileMailbox;
  beforeAll(async () => {
    // A back-off of at most 1 s, so that only the lock stands between the guesses.
    t = await createTestApp({ db: 'pglite', env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_IP_PER_MINUTE: '10000', LOGIN_BACKOFF_MAX_SECONDS: '1' } });
    mailbox = new FileMailbox(t.config.mail.dir);
  }, 120_000); // PGlite (WASM) boots slowly on a busy machine.
  afterAll(() => t?.close());

  async function enrolled() {
    const { user, tokens } = await signUp(t.fastify);
    const factor = await enableTotp(t.fastify, tokens.access_token, t.clock.now());
    const challenge = async () =>
      (await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })).json<{ mfa_token: string }>().mfa_token;
    const verify = async (payload: object) => t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { mfa_token: await challenge(), ...payload } });
    const stepUp = (payload: object) => t.fastify.inject({ method: 'POST', url: '/auth/mfa/step-up', headers: bearer(tokens.access_token), payload });
    const wrong = () => ({ code: codeFor(factor.secret, t.clock.now() - 600_000) });
    const right = () => {
      t.clock.set(nextStep(t.clock.now()) + 1_000);
      return { code: codeFor(factor.secret, t.clock.now()) };
    };
    /** `n` wrong codes, alternating login and step-up, each after the back-off window. */
    const guess = async (n: number) => {
      for (let i = 0; i < n; i++) {
        t.clock.advance(1_100);
        expectProblem(await (i % 2 ? stepUp(wrong()) : verify(wrong())), 401, 'invalid_mfa_code');
      }
    };
    return { user, tokens, ...factor, verify, stepUp, wrong, right, guess };
  }

  it(`after ${MFA_LOCK_THRESHOLD} wrong codes, refuses the right one on every route for 24 h; recovery codes still work; one mail`, async () => {
    const a = await enrolled();
    await a.guess(MFA_LOCK_THRESHOLD);
    t.clock.advance(1_100);
    const locked = await a.verify(a.right());
    expectProblem(locked, 429, 'mfa_locked');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(MFA_LOCK_MS / 1000 - 120);
    expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(MFA_LOCK_MS / 1000);
    expectProblem(await a.stepUp(a.right()), 429, 'mfa_locked');
    const removal = await t.fastify.inject({ method: 'DELETE', url: '/auth/mfa/totp', headers: bearer(a.tokens.access_token), payload: { password: PASSWORD, ...a.right() } });
    expectProblem(removal, 429, 'mfa_locked');
    // More guesses while locked are refused before any comparison, and mail nothing more.
    t.clock.advance(1_100);
    expectProblem(await a.verify(a.wrong()), 429, 'mfa_locked');

    await t.app.mail.drainOnce();
    const mails = await mailbox.to(a.user.email, LOCKED_SUBJECT);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.text).toContain('24 hours');
    expect(mails[0]!.token).toBeUndefined();
    const logs = t.logs().filter((l) => l.user_id === a.user.id);
    expect(logs.filter((l) => l.event === 'mfa.locked')).toHaveLength(1);
    expect(logs.filter((l) => l.event === 'mfa.failed' && l.reason === 'mfa_locked')).toHaveLength(4);

    // A recovery code still works while locked, on login and on step-up.
    t.clock.advance(1_100);
    expect((await a.verify({ recovery_code: a.recoveryCodes[0] })).statusCode).toBe(200);
    expect((await a.stepUp({ recovery_code: a.recoveryCodes[1] })).statusCode).toBe(200);
  });

  it('lifts after 24 hours', async () => {
    const a = await enrolled();
    await a.guess(MFA_LOCK_THRESHOLD);
    t.clock.advance(1_100);
    expectProblem(await a.verify(a.right()), 429, 'mfa_locked');
    t.clock.advance(MFA_LOCK_MS);
    const res = await a.verify(a.right());
    expect(res.statusCode, res.body).toBe(200);
  });

  it('a right code before the tenth wrong one starts the count again; nothing is mailed', async () => {
    const a = await enrolled();
    await a.guess(MFA_LOCK_THRESHOLD - 1);
    t.clock.advance(1_100);
    expect((await a.stepUp(a.right())).statusCode).toBe(200);
    await a.guess(MFA_LOCK_THRESHOLD - 1);
    t.clock.advance(1_100);
    expect((await a.verify(a.right())).statusCode).toBe(200);
    await t.app.mail.drainOnce();
    expect(await mailbox.to(a.user.email, LOCKED_SUBJECT)).toHaveLength(0);
  });
});
