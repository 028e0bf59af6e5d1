// Using a recovery code mails the account a notice, through the mail outbox (queued in the
// transaction that used the code) to a real SMTP server; a TOTP code mails nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, PASSWORD, signUp } from '../helpers/flows.ts';
import { TestSmtpServer } from '../helpers/smtp.ts';
import { codeFor, enableTotp, nextStep } from '../helpers/totp.ts';

const SUBJECT = 'A recovery code was used for your account';

describe('recovery-code notice mail', () => {
  let smtp: TestSmtpServer;
  let t: TestApp;
  beforeAll(async () => {
    smtp = await TestSmtpServer.start();
    t = await createTestApp({ env: { SMTP_URL: smtp.url } });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.stop();
  });

  it('is sent once per recovery code used (login, step-up), never for a TOTP code, and never carries a code', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const { secret, recoveryCodes } = await enableTotp(t.fastify, tokens.access_token, t.clock.now());
    const challenge = async () =>
      (await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })).json<{ mfa_token: string }>().mfa_token;
    const notices = () => smtp.to(user.email).filter((m) => m.subject === SUBJECT);

    t.clock.set(nextStep(t.clock.now()) + 1_000);
    expect((await t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { mfa_token: await challenge(), code: codeFor(secret, t.clock.now()) } })).statusCode).toBe(200);
    const wrong = await t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { mfa_token: await challenge(), recovery_code: 'aaaa-bbbb-cccc-dddd' } });
    expect(wrong.statusCode).toBe(401);
    expect((await t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { mfa_token: await challenge(), recovery_code: recoveryCodes[0] } })).statusCode).toBe(200);
    expect((await t.fastify.inject({ method: 'POST', url: '/auth/mfa/step-up', headers: bearer(tokens.access_token), payload: { recovery_code: recoveryCodes[1] } })).statusCode).toBe(200);
    await t.app.mail.drainOnce();

    const sent = notices();
    expect(sent).toHaveLength(2);
    expect(sent[0]!.text).toContain('9 unused codes are left');
    expect(sent[1]!.text).toContain('8 unused codes are left');
    for (const mail of sent) {
      for (const code of recoveryCodes) expect(mail.raw).not.toContain(code);
      expect(mail.raw).not.toContain(secret);
    }
    expect(t.logs().filter((l) => l.event === 'mfa.recovery_code_used' && l.user_id === user.id).map((l) => l.recovery_codes_left)).toEqual([9, 8]);
  });

  it('a password reset on an account with a second factor answers the challenge, not tokens', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const { secret } = await enableTotp(t.fastify, tokens.access_token, t.clock.now());
    expect((await t.fastify.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: user.email } })).statusCode).toBe(202);
    await t.app.mail.drainOnce();
    const token = smtp.to(user.email).find((m) => m.subject === 'Reset your password')!.token!;
    const reset = await t.fastify.inject({ method: 'POST', url: '/auth/password/reset', payload: { token, new_password: 'a reset passphrase', remember: true } });
    expect(reset.statusCode, reset.body).toBe(200);
    const body = reset.json<{ mfa_required: boolean; mfa_token: string; access_token?: string }>();
    expect(body).toMatchObject({ mfa_required: true, methods: ['totp', 'recovery_code'] });
    expect(body).not.toHaveProperty('access_token');
    expect(reset.cookies).toHaveLength(0);
    // The reset itself happened: old tokens are dead, the new password is the one.
    expect((await t.fastify.inject({ method: 'GET', url: '/auth/me', headers: bearer(tokens.access_token) })).statusCode).toBe(401);
    t.clock.set(nextStep(t.clock.now()) + 1_000);
    const verified = await t.fastify.inject({ method: 'POST', url: '/auth/mfa/verify', payload: { mfa_token: body.mfa_token, code: codeFor(secret, t.clock.now()) } });
    expect(verified.statusCode, verified.body).toBe(200);
    expect(verified.json()).toHaveProperty('refresh_token');
  });
});
