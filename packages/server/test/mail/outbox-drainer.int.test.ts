// The mail outbox against a real SMTP server that goes down and comes back: answers do not
// change, no mail is lost, none is sent twice (counted at the server), also with two
// replicas draining the same outbox at once; a mail that keeps failing is given up,
// audited (mail.failed) and counted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { register, uniqueEmail } from '../helpers/flows.ts';
import { TestSmtpServer } from '../helpers/smtp.ts';
import { value } from '../metrics/exposition.ts';

describe('mail outbox with a real SMTP server', () => {
  let smtp: TestSmtpServer;
  const clock = new ManualClock(Date.now());
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    smtp = await TestSmtpServer.start();
    a = await createTestApp({ db: 'postgres', clock, env: { SMTP_URL: smtp.url } });
    // A second replica: its own app, pool and drainer, the same PostgreSQL schema.
    b = await createTestApp({ clock, db: { ...a.testDb, db: a.testDb.openAnother() }, keysDir: a.config.keysDir, env: { SMTP_URL: smtp.url } });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await smtp?.stop();
  });

  const forgot = (t: TestApp, email: string) => t.fastify.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email } });
  const metric = async (t: TestApp, kind: string, outcome: string) =>
    value((await t.app.metrics.exposition()).body, 'tessera_mails_total', { kind, outcome });
  /** Every replica drains at once, as their timers would. */
  const drainBoth = () => Promise.all([a.app.mail.drainOnce(), b.app.mail.drainOnce()]);
  const countByMessageId = () => {
    const counts = new Map<string, number>();
    for (const m of smtp.received) counts.set(m.messageId, (counts.get(m.messageId) ?? 0) + 1);
    return counts;
  };

  it('while SMTP is down, requests answer exactly as usual; once it is back every mail arrives, once', async () => {
    const users = await Promise.all(Array.from({ length: 4 }, () => register(a.fastify)));
    await drainBoth();
    const up = await forgot(a, users[0]!.email);

    await smtp.stop();
    const whileDown = await Promise.all(users.map((u, i) => forgot(i % 2 ? a : b, u.email)));
    for (const res of whileDown) {
      expect(res.statusCode).toBe(up.statusCode);
      expect(res.body).toBe(up.body);
    }
    const lateComer = await b.fastify.inject({ method: 'POST', url: '/auth/register', payload: { email: uniqueEmail('late'), password: 'correct horse battery staple' } });
    expect(lateComer.statusCode).toBe(201);
    const late = (lateComer.json() as { email: string }).email;
    const received = smtp.received.length;

    // Both replicas try, fail, and schedule retries with back-off.
    await drainBoth();
    const retried = (await metric(a, 'password_reset', 'retried')) + (await metric(b, 'password_reset', 'retried'));
    expect(retried).toBeGreaterThanOrEqual(4);
    clock.advance(1_500);
    await drainBoth();
    expect(smtp.received.length).toBe(received);
    const pending = await a.db.query<{ n: number }>('SELECT count(*)::int AS n FROM mail_outbox WHERE done_at IS NULL');
    expect(pending[0]!.n).toBeGreaterThanOrEqual(5);

    await smtp.start();
    // Back-off: up to 2 s after the second failure (with jitter); the timers would get there alone.
    clock.advance(10_000);
    await drainBoth();
    // users[0] asked twice (once before the outage): only the newest request is sent.
    for (const user of users) expect(smtp.to(user.email).filter((m) => m.subject === 'Reset your password')).toHaveLength(1);
    expect(smtp.to(late).filter((m) => m.subject === 'Confirm your email address')).toHaveLength(1);
    expect([...countByMessageId().values()].every((n) => n === 1)).toBe(true);
    await drainBoth();
    expect([...countByMessageId().values()].every((n) => n === 1)).toBe(true);
  });

  it('two replicas draining 40 queued mails at the same moment send each exactly once', async () => {
    const users = await Promise.all(Array.from({ length: 20 }, () => register(a.fastify)));
    for (const [i, user] of users.entries()) expect((await forgot(i % 2 ? a : b, user.email)).statusCode).toBe(202);
    const before = smtp.received.length;
    const [byA, byB] = await drainBoth();
    console.log(`replica A handled ${byA} mails, replica B ${byB}`);
    // 20 verification mails from the registrations, 20 reset mails.
    expect(smtp.received.length - before).toBe(40);
    expect(byA + byB).toBe(40);
    for (const user of users) {
      expect(smtp.to(user.email).map((m) => m.subject).sort()).toEqual(['Confirm your email address', 'Reset your password']);
    }
    expect([...countByMessageId().values()].every((n) => n === 1)).toBe(true);
  });

  it('a permanent refusal (550) is not retried: audited as mail.failed and counted', async () => {
    const user = await register(a.fastify);
    await drainBoth();
    smtp.refuse.add(user.email);
    const failedBefore = await metric(a, 'password_reset', 'failed');
    expect((await forgot(a, user.email)).statusCode).toBe(202);
    await a.app.mail.drainOnce();
    expect(await metric(a, 'password_reset', 'failed')).toBe(failedBefore + 1);
    const audit = a.logs().find((l) => l.event === 'mail.failed' && l.user_id === user.id);
    expect(audit).toMatchObject({ kind: 'password_reset', attempts: 1, level: 40 });
    expect(String(audit!.reason)).toMatch(/550/);
    expect(audit!.reqId).toBeDefined();
    clock.advance(60_000);
    expect(await a.app.mail.drainOnce()).toBe(0);
    smtp.refuse.delete(user.email);
  });

  it('a mail still failing when its link would expire is given up, audited and counted', async () => {
    const user = await register(a.fastify);
    await drainBoth();
    await smtp.stop();
    try {
      expect((await forgot(b, user.email)).statusCode).toBe(202);
      const failedBefore = await metric(b, 'password_reset', 'failed');
      for (let elapsed = 0; elapsed <= b.config.recovery.passwordResetTtl * 1000; elapsed += 60_000) {
        await b.app.mail.drainOnce();
        clock.advance(60_000);
      }
      await b.app.mail.drainOnce();
      expect(await metric(b, 'password_reset', 'failed')).toBe(failedBefore + 1);
      const audit = b.logs().find((l) => l.event === 'mail.failed' && l.user_id === user.id);
      expect(String(audit?.reason)).toMatch(/expire/);
      const rows = await b.db.query<{ outcome: string; attempts: number }>("SELECT outcome, attempts FROM mail_outbox WHERE user_id = $1 AND kind = 'password_reset'", [user.id]);
      expect(rows[0]).toMatchObject({ outcome: 'failed' });
      console.log(`given up after ${rows[0]!.attempts} attempts over ${b.config.recovery.passwordResetTtl / 60} minutes`);
    } finally {
      await smtp.start();
    }
  });

  it('counts sent mail by kind', async () => {
    const exposition = (await a.app.metrics.exposition()).body;
    expect(value(exposition, 'tessera_mails_total', { kind: 'password_reset', outcome: 'sent' })).toBeGreaterThan(0);
    expect(exposition).toContain('tessera_mails_total{kind="email_change_notice",outcome="sent"} 0');
  });
});
