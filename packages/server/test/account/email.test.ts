// Email verification and email change, against a real SMTP server started by the test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, expectProblem, login, me, PASSWORD, register, signUp, uniqueEmail } from '../helpers/flows.ts';
import { TestSmtpServer, type ReceivedMail } from '../helpers/smtp.ts';

const APP_URL = 'https://app.example.test';

describe('email verification and change (real SMTP server)', () => {
  let smtp: TestSmtpServer;
  let t: TestApp;

  beforeAll(async () => {
    smtp = await TestSmtpServer.start();
    t = await createTestApp({ env: { SMTP_URL: smtp.url, APP_URL } });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.stop();
  });

  const post = (url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    t.fastify.inject({ method: 'POST', url, ...(payload === undefined ? {} : { payload: payload as object }), headers });
  const deliver = () => t.app.mail.drainOnce();
  const mails = (to: string, subject: string): ReceivedMail[] => smtp.to(to).filter((m) => m.subject === subject);
  const VERIFY = 'Confirm your email address';
  const CHANGE = 'Confirm your new email address';
  const NOTICE = 'Your email address is being changed';

  describe('verification', () => {
    it('registration mails a link; using it marks the address verified in /auth/me and the user JSON', async () => {
      const { user, tokens } = await signUp(t.fastify);
      expect(user).toMatchObject({ email_verified: false });
      await deliver();
      const [mail] = mails(user.email, VERIFY);
      expect(mail?.link).toMatch(new RegExp(`^${APP_URL}/verify-email#token=mt_`));
      expect(mail!.text).toContain('24 hours');

      const res = await post('/auth/email/verify', { token: mail!.token });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ id: user.id, email: user.email, created_at: user.created_at, email_verified: true });
      expect((await me(t.fastify, tokens.access_token)).json()).toMatchObject({ email_verified: true });
      expectProblem(await post('/auth/email/verify', { token: mail!.token }), 410, 'mail_token_used');
      expectProblem(await post('/auth/email/verify/resend', undefined, bearer(tokens.access_token)), 409, 'email_already_verified');
    });

    it('resend mails a new link and voids the older one; an expired link answers mail_token_expired', async () => {
      const { user, tokens } = await signUp(t.fastify);
      await deliver();
      const res = await post('/auth/email/verify/resend', undefined, bearer(tokens.access_token));
      expect(res.statusCode, res.body).toBe(202);
      expect(res.json()).toEqual({ status: 'accepted' });
      await deliver();
      const [first, second] = mails(user.email, VERIFY);
      expect(second).toBeDefined();
      expectProblem(await post('/auth/email/verify', { token: first!.token }), 410, 'mail_token_voided');
      t.clock.advance(t.config.recovery.emailVerificationTtl * 1000);
      expectProblem(await post('/auth/email/verify', { token: second!.token }), 410, 'mail_token_expired');
      expectProblem(await post('/auth/email/verify/resend'), 401, 'invalid_token');
    });

    it('sends only the newest of two verification requests still queued', async () => {
      const { user, tokens } = await signUp(t.fastify);
      // Two requests queued; the drainer sends the newest only.
      expect((await post('/auth/email/verify/resend', undefined, bearer(tokens.access_token))).statusCode).toBe(202);
      await deliver();
      expect(mails(user.email, VERIFY)).toHaveLength(1);
    });
  });

  describe('REQUIRE_VERIFIED_EMAIL=true', () => {
    let strict: TestApp;
    beforeAll(async () => {
      strict = await createTestApp({ db: t.testDb, env: { SMTP_URL: smtp.url, APP_URL, REQUIRE_VERIFIED_EMAIL: 'true' } });
    });
    afterAll(() => strict?.close());

    it('a wrong password answers invalid_credentials; a correct one 403 email_not_verified and a new link; once verified, login works', async () => {
      const user = await register(strict.fastify);
      const attempt = (password: string) => strict.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password } });
      expectProblem(await attempt('not the password'), 401, 'invalid_credentials');
      const refused = expectProblem(await attempt(PASSWORD), 403, 'email_not_verified');
      expect(refused.detail).toMatch(/new link/);
      await strict.app.mail.drainOnce();
      const links = mails(user.email, VERIFY);
      // The registration's mail was superseded by the login's before its turn: one mail, the newest.
      expect(links).toHaveLength(1);
      expect((await strict.fastify.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: links[0]!.token } })).statusCode).toBe(200);
      expect((await attempt(PASSWORD)).statusCode).toBe(200);
    });
  });

  describe('change', () => {
    it('mails a confirmation to the new address and a notice to the old; the old can still recover until it is confirmed', async () => {
      const { user, tokens } = await signUp(t.fastify);
      const newEmail = uniqueEmail('moved');
      const res = await post('/auth/email/change', { new_email: newEmail.toUpperCase(), password: PASSWORD }, bearer(tokens.access_token));
      expect(res.statusCode, res.body).toBe(202);
      await deliver();
      const [confirm] = mails(newEmail, CHANGE);
      const [notice] = mails(user.email, NOTICE);
      expect(confirm?.link).toMatch(new RegExp(`^${APP_URL}/confirm-email-change#token=mt_`));
      expect(confirm!.text).toContain(user.email);
      expect(notice?.text).toContain(newEmail);
      expect(notice?.token).toBeUndefined();

      // Not confirmed yet: the old address still logs in and can ask for a reset.
      await login(t.fastify, user.email);
      expect((await post('/auth/password/forgot', { email: user.email })).statusCode).toBe(202);
      await deliver();
      const [resetMail] = mails(user.email, 'Reset your password');
      expect(resetMail?.token).toBeDefined();

      const confirmed = await post('/auth/email/change/confirm', { token: confirm!.token });
      expect(confirmed.statusCode, confirmed.body).toBe(200);
      expect(confirmed.json()).toMatchObject({ id: user.id, email: newEmail, email_verified: true });
      expect((await me(t.fastify, tokens.access_token)).json()).toMatchObject({ email: newEmail });
      // Links mailed to the old address stop working; the old address no longer logs in.
      expectProblem(await post('/auth/password/reset', { token: resetMail!.token, new_password: 'some new passphrase' }), 410, 'mail_token_voided');
      expectProblem(await post('/auth/login', { email: user.email, password: PASSWORD }), 401, 'invalid_credentials');
      await login(t.fastify, newEmail);
      expectProblem(await post('/auth/email/change/confirm', { token: confirm!.token }), 410, 'mail_token_used');
    });

    it('409 email_taken when someone registers the new address before the confirmation', async () => {
      const { tokens } = await signUp(t.fastify);
      const newEmail = uniqueEmail('contested');
      expect((await post('/auth/email/change', { new_email: newEmail, password: PASSWORD }, bearer(tokens.access_token))).statusCode).toBe(202);
      await deliver();
      const [confirm] = mails(newEmail, CHANGE);
      await register(t.fastify, newEmail);
      expectProblem(await post('/auth/email/change/confirm', { token: confirm!.token }), 409, 'email_taken');
      // Taken already when asked: the same 202 as for a free address (no oracle); its owner gets a notice.
      expect((await post('/auth/email/change', { new_email: newEmail, password: PASSWORD }, bearer(tokens.access_token))).statusCode).toBe(202);
    });

    it('asks for the password again, and refuses the current address', async () => {
      const { user, tokens } = await signUp(t.fastify);
      const wrong = expectProblem(await post('/auth/email/change', { new_email: uniqueEmail(), password: 'not the password' }, bearer(tokens.access_token)), 401, 'invalid_credentials');
      expect(JSON.stringify(wrong)).toContain('"field":"password"');
      expectProblem(await post('/auth/email/change', { new_email: user.email, password: PASSWORD }, bearer(tokens.access_token)), 400, 'validation_failed');
      expectProblem(await post('/auth/email/change', { new_email: uniqueEmail(), password: PASSWORD }), 401, 'invalid_token');
    });

    it('only the newest change can be confirmed', async () => {
      const { tokens } = await signUp(t.fastify);
      const [a, b] = [uniqueEmail('first'), uniqueEmail('second')];
      for (const address of [a, b]) {
        expect((await post('/auth/email/change', { new_email: address, password: PASSWORD }, bearer(tokens.access_token))).statusCode).toBe(202);
        await deliver();
      }
      expectProblem(await post('/auth/email/change/confirm', { token: mails(a, CHANGE)[0]!.token }), 410, 'mail_token_voided');
      expect((await post('/auth/email/change/confirm', { token: mails(b, CHANGE)[0]!.token })).json()).toMatchObject({ email: b });
    });
  });
});
