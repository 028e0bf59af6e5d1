// POST /auth/email/change is no oracle of registered addresses: a taken address and a free
// one get the same answer (202, and the same 429 once the account's mail throttle is
// reached); the taken address's owner gets a notice, never a link. The 409 email_taken
// stays at confirmation, for an address taken after the change was asked for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAILS_BEFORE_BACKOFF } from '../../src/account/recovery-throttle.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, expectProblem, PASSWORD, register, signUp, uniqueEmail } from '../helpers/flows.ts';
import { FileMailbox } from '../helpers/mailbox.ts';

describe('email change to a registered address', () => {
  let t: TestApp;
  let mailbox: FileMailbox;
  beforeAll(async () => {
    t = await createTestApp({ db: 'pglite', env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_IP_PER_MINUTE: '1000' } });
    mailbox = new FileMailbox(t.config.mail.dir);
  }, 120_000); // PGlite (WASM) boots slowly on a busy machine.
  afterAll(() => t?.close());

  const change = (accessToken: string, newEmail: string) =>
    t.fastify.inject({ method: 'POST', url: '/auth/email/change', headers: bearer(accessToken), payload: { new_email: newEmail, password: PASSWORD } });

  it('answers 202 for a taken address as for a free one; the owner gets a notice without a link', async () => {
    const owner = await register(t.fastify);
    const { user, tokens } = await signUp(t.fastify);
    const taken = await change(tokens.access_token, owner.email);
    expect(taken.statusCode, taken.body).toBe(202);
    expect(taken.json()).toEqual({ status: 'accepted' });
    const free = await change(tokens.access_token, uniqueEmail('free'));
    expect(free.statusCode).toBe(202);
    expect(free.json()).toEqual(taken.json());

    await t.app.mail.drainOnce();
    const toOwner = await mailbox.to(owner.email);
    const notice = toOwner.find((m) => m.subject === 'Someone tried to use your email address');
    expect(notice?.text).toContain(owner.email);
    expect(notice?.token).toBeUndefined();
    expect(toOwner.filter((m) => m.token !== undefined && m.subject !== 'Confirm your email address')).toHaveLength(0);
    // The requester's own address hears of both requests alike.
    expect(await mailbox.to(user.email, 'Your email address is being changed')).toHaveLength(2);
    const audit = t.logs().filter((l) => l.event === 'email.change_requested' && l.user_id === user.id);
    expect(audit.map((l) => l.address_taken)).toEqual([true, false]);
  });

  it('the account mail throttle answers the same 429 for taken and free addresses', async () => {
    const owner = await register(t.fastify);
    const { tokens } = await signUp(t.fastify);
    for (let i = 0; i < MAILS_BEFORE_BACKOFF; i++) expect((await change(tokens.access_token, i % 2 ? owner.email : uniqueEmail())).statusCode).toBe(202);
    const a = expectProblem(await change(tokens.access_token, owner.email), 429, 'rate_limited');
    const b = expectProblem(await change(tokens.access_token, uniqueEmail()), 429, 'rate_limited');
    expect(b).toEqual(a);
  });

  it('still answers 409 email_taken at confirmation when the address was registered meanwhile', async () => {
    const { tokens } = await signUp(t.fastify);
    const contested = uniqueEmail('contested');
    expect((await change(tokens.access_token, contested)).statusCode).toBe(202);
    await t.app.mail.drainOnce();
    const [link] = await mailbox.to(contested, 'Confirm your new email address');
    await register(t.fastify, contested);
    expectProblem(await t.fastify.inject({ method: 'POST', url: '/auth/email/change/confirm', payload: { token: link!.token! } }), 409, 'email_taken');
  });
});
