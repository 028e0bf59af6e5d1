// A pending email change (or any mailed link) does not survive a credential change: the
// attacker who phished the password and asked to move the account to their address loses
// the link as soon as the victim (or an operator) does what the notice mail says.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, expectProblem, login, me, PASSWORD, signUp, uniqueEmail } from '../helpers/flows.ts';
import { FileMailbox } from '../helpers/mailbox.ts';
import { codeFor, enableTotp, nextStep } from '../helpers/totp.ts';

const ADMIN = { id: 'ops-console', secret: 'a-long-admin-secret-for-tests' };
const asAdmin = { authorization: `Basic ${Buffer.from(`${ADMIN.id}:${ADMIN.secret}`).toString('base64')}` };
const CHANGE = 'Confirm your new email address';
const VERIFY = 'Confirm your email address';

describe('a credential change voids every mailed link of the user', () => {
  let t: TestApp;
  let mailbox: FileMailbox;
  beforeAll(async () => {
    t = await createTestApp({ db: 'pglite', env: { ADMIN_CLIENTS: `${ADMIN.id}:${ADMIN.secret}` } });
    mailbox = new FileMailbox(t.config.mail.dir);
  }, 120_000); // PGlite (WASM) boots slowly on a busy machine.
  afterAll(() => t?.close());

  const inject = (method: 'POST' | 'PUT' | 'DELETE', url: string, payload?: object, headers: Record<string, string> = {}) =>
    t.fastify.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  const deliver = () => t.app.mail.drainOnce();

  /** The attacker's move: an email change to their address, its link delivered to them. */
  async function pendingChange(accessToken: string): Promise<{ newEmail: string; token: string }> {
    const newEmail = uniqueEmail('attacker');
    const res = await inject('POST', '/auth/email/change', { new_email: newEmail, password: PASSWORD }, bearer(accessToken));
    expect(res.statusCode, res.body).toBe(202);
    await deliver();
    const [mail] = await mailbox.to(newEmail, CHANGE);
    expect(mail?.token).toBeDefined();
    // The victim acts a moment later.
    t.clock.advance(1_000);
    return { newEmail, token: mail!.token! };
  }

  async function expectVoided(token: string, email: string, userId: string) {
    expectProblem(await inject('POST', '/auth/email/change/confirm', { token }), 410, 'mail_token_voided');
    // The address did not move: a login with it still works.
    const tokens = await login(t.fastify, email);
    expect((await me(t.fastify, tokens.access_token)).json()).toMatchObject({ id: userId, email });
  }

  it('the victim changes the password', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const { token } = await pendingChange(tokens.access_token);
    const changed = await inject('POST', '/auth/password', { current_password: PASSWORD, new_password: 'the victim now chose this' }, bearer(tokens.access_token));
    expect(changed.statusCode, changed.body).toBe(200);
    expectProblem(await inject('POST', '/auth/email/change/confirm', { token }), 410, 'mail_token_voided');
    await login(t.fastify, user.email, 'the victim now chose this');
  });

  it('the victim resets the password from the old address', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const { token } = await pendingChange(tokens.access_token);
    expect((await inject('POST', '/auth/password/forgot', { email: user.email })).statusCode).toBe(202);
    await deliver();
    const [reset] = await mailbox.to(user.email, 'Reset your password');
    const res = await inject('POST', '/auth/password/reset', { token: reset!.token!, new_password: 'a reset passphrase' });
    expect(res.statusCode, res.body).toBe(200);
    expectProblem(await inject('POST', '/auth/email/change/confirm', { token }), 410, 'mail_token_voided');
    await login(t.fastify, user.email, 'a reset passphrase');
  });

  it('an operator sets the password', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const { token } = await pendingChange(tokens.access_token);
    expect((await inject('PUT', `/admin/users/${user.id}/password`, { password: 'an operator passphrase' }, asAdmin)).statusCode).toBe(200);
    expectProblem(await inject('POST', '/auth/email/change/confirm', { token }), 410, 'mail_token_voided');
    await login(t.fastify, user.email, 'an operator passphrase');
  });

  it('an operator disables the account: refused while disabled, and still refused once enabled again', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const { token } = await pendingChange(tokens.access_token);
    expect((await inject('POST', `/admin/users/${user.id}/disable`, undefined, asAdmin)).statusCode).toBe(200);
    expectProblem(await inject('POST', '/auth/email/change/confirm', { token }), 410, 'mail_token_voided');
    expect((await inject('POST', `/admin/users/${user.id}/enable`, undefined, asAdmin)).statusCode).toBe(200);
    await expectVoided(token, user.email, user.id);
  });

  it('the second factor is removed, by the user or by an operator', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const { secret } = await enableTotp(t.fastify, tokens.access_token, t.clock.now());
    const first = await pendingChange(tokens.access_token);
    t.clock.set(nextStep(t.clock.now()) + 1_000);
    const removed = await inject('DELETE', '/auth/mfa/totp', { password: PASSWORD, code: codeFor(secret, t.clock.now()) }, bearer(tokens.access_token));
    expect(removed.statusCode, removed.body).toBe(204);
    await expectVoided(first.token, user.email, user.id);

    await enableTotp(t.fastify, tokens.access_token, t.clock.now());
    const second = await pendingChange(tokens.access_token);
    expect((await inject('DELETE', `/admin/users/${user.id}/mfa`, undefined, asAdmin)).statusCode).toBe(200);
    await expectVoided(second.token, user.email, user.id);
  });

  it('voids an email verification link too', async () => {
    const { user, tokens } = await signUp(t.fastify);
    await deliver();
    const [verify] = await mailbox.to(user.email, VERIFY);
    t.clock.advance(1_000);
    expect((await inject('POST', '/auth/password', { current_password: PASSWORD, new_password: 'another passphrase' }, bearer(tokens.access_token))).statusCode).toBe(200);
    expectProblem(await inject('POST', '/auth/email/verify', { token: verify!.token! }), 410, 'mail_token_voided');
  });

  it('an email change asked before the password change and still queued is never sent', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const newEmail = uniqueEmail('queued');
    expect((await inject('POST', '/auth/email/change', { new_email: newEmail, password: PASSWORD }, bearer(tokens.access_token))).statusCode).toBe(202);
    t.clock.advance(1_000);
    expect((await inject('POST', '/auth/password', { current_password: PASSWORD, new_password: 'changed before the send' }, bearer(tokens.access_token))).statusCode).toBe(200);
    await deliver();
    expect(await mailbox.to(newEmail, CHANGE)).toHaveLength(0);
    // The notice to the old address was still sent: the owner learns of the attempt.
    expect(await mailbox.to(user.email, 'Your email address is being changed')).toHaveLength(1);
  });

  it('a change asked after the credential change still works', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const changed = await inject('POST', '/auth/password', { current_password: PASSWORD, new_password: 'the newest passphrase' }, bearer(tokens.access_token));
    const fresh = changed.json<{ access_token: string }>().access_token;
    t.clock.advance(1_000);
    const newEmail = uniqueEmail('wanted');
    expect((await inject('POST', '/auth/email/change', { new_email: newEmail, password: 'the newest passphrase' }, bearer(fresh))).statusCode).toBe(202);
    await deliver();
    const [mail] = await mailbox.to(newEmail, CHANGE);
    const confirmed = await inject('POST', '/auth/email/change/confirm', { token: mail!.token! });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    expect(confirmed.json()).toMatchObject({ id: user.id, email: newEmail });
  });
});
