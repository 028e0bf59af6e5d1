// Password reset by email, against a real SMTP server started by the test: the mail
// arrives, its link works once and only once, and every refusal has its own code.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, expectProblem, login, me, PASSWORD, refresh, register, signUp, uniqueEmail, type Tokens } from '../helpers/flows.ts';
import { TestSmtpServer, type ReceivedMail } from '../helpers/smtp.ts';

const APP_URL = 'https://app.example.test';
const NEW_PASSWORD = 'a completely new passphrase';

describe('password reset by email (real SMTP server)', () => {
  let smtp: TestSmtpServer;
  let t: TestApp;

  beforeAll(async () => {
    smtp = await TestSmtpServer.start();
    t = await createTestApp({ env: { SMTP_URL: smtp.url, APP_URL, MAIL_FROM: 'Tessera <auth@example.test>' } });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.stop();
  });

  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) => t.fastify.inject({ method: 'POST', url, payload: payload as object, headers });
  const forgot = (email: string) => post('/auth/password/forgot', { email });
  const reset = (token: string, newPassword = NEW_PASSWORD) => post('/auth/password/reset', { token, new_password: newPassword });
  /** Sends what the outbox holds, as a replica's drainer does on its timer. */
  const deliver = () => t.app.mail.drainOnce();
  const resetMails = (email: string): ReceivedMail[] => smtp.to(email).filter((m) => m.subject === 'Reset your password');

  async function requestLink(email: string): Promise<ReceivedMail> {
    const before = resetMails(email).length;
    const res = await forgot(email);
    expect(res.statusCode, res.body).toBe(202);
    await deliver();
    const mails = resetMails(email);
    expect(mails).toHaveLength(before + 1);
    return mails.at(-1)!;
  }

  it('forgot → the mail arrives → its link resets the password once; old tokens die, the old password fails', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const mail = await requestLink(user.email);
    expect(mail.from).toBe('auth@example.test');
    expect(mail.link).toMatch(new RegExp(`^${APP_URL}/reset-password#token=mt_[A-Za-z0-9_-]{43}$`));
    expect(mail.html).toContain(mail.link);
    expect(mail.text).toContain('30 minutes');

    const res = await reset(mail.token!);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const fresh = res.json() as Tokens;
    expect(fresh.refresh_token).toMatch(/^rt_/);

    expectProblem(await me(t.fastify, tokens.access_token), 401, 'token_revoked');
    expectProblem(await refresh(t.fastify, tokens.refresh_token), 401, 'invalid_grant');
    expectProblem(await reset(mail.token!, 'yet another passphrase'), 410, 'mail_token_used');

    expectProblem(await post('/auth/login', { email: user.email, password: PASSWORD }), 401, 'invalid_credentials');
    await login(t.fastify, user.email, NEW_PASSWORD);
    // The session the reset opened works, and the link proved the address.
    const profile = await me(t.fastify, fresh.access_token);
    expect(profile.json()).toMatchObject({ id: user.id, email_verified: true });
    expect((await refresh(t.fastify, fresh.refresh_token)).statusCode).toBe(200);
  });

  it('a link older than PASSWORD_RESET_TTL is refused: 410 mail_token_expired', async () => {
    const user = await register(t.fastify);
    const mail = await requestLink(user.email);
    t.clock.advance(t.config.recovery.passwordResetTtl * 1000);
    expectProblem(await reset(mail.token!), 410, 'mail_token_expired');
    await login(t.fastify, user.email, PASSWORD);
  });

  it('only the newest link works: a second request voids the first (410 mail_token_voided)', async () => {
    const user = await register(t.fastify);
    const first = await requestLink(user.email);
    const second = await requestLink(user.email);
    const voided = expectProblem(await reset(first.token!), 410, 'mail_token_voided');
    expect(voided.detail).toMatch(/newer link/);
    expect((await reset(second.token!)).statusCode).toBe(200);
  });

  it('a password change voids every outstanding link', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const mail = await requestLink(user.email);
    const change = await post('/auth/password', { current_password: PASSWORD, new_password: NEW_PASSWORD }, bearer(tokens.access_token));
    expect(change.statusCode, change.body).toBe(200);
    const voided = expectProblem(await reset(mail.token!), 410, 'mail_token_voided');
    expect(voided.detail).toMatch(/password was changed/);
    await login(t.fastify, user.email, NEW_PASSWORD);
  });

  it('a request queued before a password change is not sent after it', async () => {
    const { user, tokens } = await signUp(t.fastify);
    await deliver();
    const before = resetMails(user.email).length;
    expect((await forgot(user.email)).statusCode).toBe(202);
    t.clock.advance(1000);
    expect((await post('/auth/password', { current_password: PASSWORD, new_password: NEW_PASSWORD }, bearer(tokens.access_token))).statusCode).toBe(200);
    await deliver();
    expect(resetMails(user.email)).toHaveLength(before);
  });

  it('an unknown address: the same 202 body, no mail, the same work (times printed)', async () => {
    const known = await register(t.fastify);
    await deliver();
    const unknown = uniqueEmail('nobody');
    const a = await forgot(known.email);
    const b = await forgot(unknown);
    expect(b.statusCode).toBe(a.statusCode);
    expect(b.body).toBe(a.body);
    expect(a.json()).toEqual({ status: 'accepted' });
    expect(b.headers['content-type']).toBe(a.headers['content-type']);
    await deliver();
    expect(smtp.to(unknown)).toEqual([]);
    expect(resetMails(known.email)).toHaveLength(1);

    // Interleaved, many times each: the request does one indexed read and one outbox insert
    // in both cases (the mail is composed later, by the drainer), so the times match.
    const times: Record<'known' | 'unknown', number[]> = { known: [], unknown: [] };
    for (let i = 0; i < 30; i++) {
      for (const [kind, email] of [['known', known.email], ['unknown', unknown]] as const) {
        const started = performance.now();
        const res: LightMyRequestResponse = await forgot(email);
        times[kind].push(performance.now() - started);
        expect(res.statusCode).toBe(202);
      }
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    console.log(`forgot: median ${median(times.known).toFixed(2)} ms for a registered address, ${median(times.unknown).toFixed(2)} ms for an unknown one (30 each, interleaved)`);
    await deliver();
    expect(smtp.to(unknown)).toEqual([]);
  });

  it('refuses a token that is not ours with 400 mail_token_invalid, and junk with validation_failed', async () => {
    expectProblem(await reset(`mt_${'A'.repeat(43)}`), 400, 'mail_token_invalid');
    expectProblem(await reset('not-a-token'), 400, 'mail_token_invalid');
    const junk = expectProblem(await post('/auth/password/reset', { token: 'tab\there', new_password: NEW_PASSWORD }), 400, 'validation_failed');
    expect(JSON.stringify(junk)).toContain('token');
    expectProblem(await post('/auth/password/reset', { token: `mt_${'A'.repeat(43)}`, new_password: 'short' }), 400, 'validation_failed');
  });

  it('a verification link is not a reset link', async () => {
    const user = await register(t.fastify);
    await deliver();
    const verification = smtp.to(user.email).find((m) => m.subject === 'Confirm your email address');
    expect(verification?.token).toBeDefined();
    expectProblem(await reset(verification!.token!), 400, 'mail_token_invalid');
  });

  it('two resets with the same link at the same moment: exactly one succeeds', async () => {
    const user = await register(t.fastify);
    const mail = await requestLink(user.email);
    const results = await Promise.all([reset(mail.token!, 'first racing passphrase'), reset(mail.token!, 'second racing passphrase')]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 410]);
    const winner = results.findIndex((r) => r.statusCode === 200);
    await login(t.fastify, user.email, winner === 0 ? 'first racing passphrase' : 'second racing passphrase');
  });

  it('a disabled account gets no mail', async () => {
    const user = await register(t.fastify);
    await deliver();
    await t.db.query('UPDATE users SET disabled_at = now() WHERE id = $1', [user.id]);
    expect((await forgot(user.email)).statusCode).toBe(202);
    await deliver();
    expect(resetMails(user.email)).toEqual([]);
  });
});
