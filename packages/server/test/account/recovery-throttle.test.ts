// Mail requests are throttled per client address (RATE_LIMIT_IP_PER_MINUTE) and per email
// address or account (a few, then an exponential back-off), and a throttled `forgot`
// answers the same for a registered and an unknown address.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAILS_BEFORE_BACKOFF } from '../../src/account/recovery-throttle.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, expectProblem, register, signUp, uniqueEmail } from '../helpers/flows.ts';

describe('recovery throttling', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_IP_PER_MINUTE: '1000' } });
  });
  afterAll(() => t?.close());

  const forgot = (email: string, ip = '203.0.113.7') => t.fastify.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email }, remoteAddress: ip });

  it('per address: a few requests, then 429 with Retry-After, the same for registered and unknown addresses', async () => {
    const known = await register(t.fastify);
    const unknown = uniqueEmail('nobody');
    for (let i = 0; i < MAILS_BEFORE_BACKOFF; i++) {
      expect((await forgot(known.email, `203.0.113.${i}`)).statusCode).toBe(202);
      expect((await forgot(unknown, `203.0.113.${i}`)).statusCode).toBe(202);
    }
    const a = expectProblem(await forgot(known.email, '198.51.100.1'), 429, 'rate_limited');
    const b = expectProblem(await forgot(unknown, '198.51.100.1'), 429, 'rate_limited');
    expect(b).toEqual(a);
    // Another address is not affected; the window ends.
    expect((await forgot(uniqueEmail())).statusCode).toBe(202);
    t.clock.advance(61_000);
    expect((await forgot(known.email)).statusCode).toBe(202);
    // Only the requests that were accepted became mail.
    const rows = await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM mail_outbox WHERE recipient = $1', [known.email]);
    expect(rows[0]!.n).toBe(MAILS_BEFORE_BACKOFF + 2); // + the verification mail of the registration
  });

  it('per account: verification resends back off', async () => {
    const { tokens } = await signUp(t.fastify);
    const resend = () => t.fastify.inject({ method: 'POST', url: '/auth/email/verify/resend', headers: bearer(tokens.access_token) });
    for (let i = 0; i < MAILS_BEFORE_BACKOFF; i++) expect((await resend()).statusCode).toBe(202);
    const refused = await resend();
    expectProblem(refused, 429, 'rate_limited');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });

  describe('per client address', () => {
    let strict: TestApp;
    beforeAll(async () => {
      strict = await createTestApp({ db: t.testDb, env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_IP_PER_MINUTE: '3' } });
    });
    afterAll(() => strict?.close());

    it('limits forgot, reset, verify and account deletion per minute', async () => {
      const calls: [string, string, unknown][] = [
        ['POST', '/auth/password/forgot', { email: 'x@example.com' }],
        ['POST', '/auth/password/reset', { token: 'mt_x', new_password: 'long enough password' }],
        ['POST', '/auth/email/verify', { token: 'mt_x' }],
        ['POST', '/auth/email/change/confirm', { token: 'mt_x' }],
        ['DELETE', '/auth/account', { password: 'x' }],
      ];
      for (const [method, url, payload] of calls) {
        const send = () => strict.fastify.inject({ method: method as 'POST', url, payload: payload as object, remoteAddress: '192.0.2.44' });
        for (let i = 0; i < 3; i++) expect((await send()).statusCode, url).not.toBe(429);
        expectProblem(await send(), 429, 'rate_limited');
      }
    });
  });
});
