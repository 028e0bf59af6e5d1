// Account recovery across real processes: two Tessera replicas sharing PostgreSQL, Redis
// and keys/, each draining the mail outbox on its own timer, a real SMTP server started by
// the test, and the example resource service mirroring the Redis denylist.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { TestSmtpServer, type ReceivedMail } from '../helpers/smtp.ts';
import { sleep } from '../revocation/redis-kit.ts';
import { bearerStatus, loginAs, post, registerAndLogin, rejectedWithin, startCluster, type Cluster, type Pair } from './cluster-kit.ts';

const APP_URL = 'https://app.example.test';
const RESET = 'Reset your password';
const VERIFY = 'Confirm your email address';

// Processes on a shared 2-core machine: generous time per test, never a duration asserted.
describe('account recovery on two replicas with a real SMTP server', { timeout: 120_000 }, () => {
  let smtp: TestSmtpServer;
  let cluster: Cluster;
  const a = () => cluster.replicas[0]!;
  const b = () => cluster.replicas[1]!;

  beforeAll(async () => {
    smtp = await TestSmtpServer.start();
    cluster = await startCluster({ replicas: 2, extraEnv: { SMTP_URL: smtp.url, APP_URL, LOG_LEVEL: 'info' } });
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
    await smtp?.stop();
  });

  const mailsTo = (to: string, subject: string): ReceivedMail[] => smtp.to(to).filter((m) => m.subject === subject);
  async function waitForMail(to: string, subject: string, count = 1): Promise<ReceivedMail> {
    const deadline = Date.now() + 30_000;
    while (mailsTo(to, subject).length < count) {
      if (Date.now() > deadline) throw new Error(`no "${subject}" mail #${count} to ${to}`);
      await sleep(25);
    }
    return mailsTo(to, subject)[count - 1]!;
  }

  it('register → the verification mail arrives → its link verifies the address', async () => {
    const { email, pair } = await registerAndLogin(b().url);
    const mail = await waitForMail(email, VERIFY);
    expect(mail.link).toMatch(new RegExp(`^${APP_URL}/verify-email#token=mt_`));
    const verified = await post(a().url, '/auth/email/verify', { token: mail.token });
    expect(verified.status).toBe(200);
    expect(await verified.json()).toMatchObject({ email, email_verified: true });
    const me = await fetch(`${b().url}/auth/me`, { headers: { authorization: `Bearer ${pair.access_token}` } });
    expect(await me.json()).toMatchObject({ email_verified: true });
  });

  it('forgot on B → the mail arrives → reset on A works once; every old token dies on every replica and in the resource service', async () => {
    const { email, pair: first } = await registerAndLogin(a().url);
    const second = await loginAs(b().url, email);
    for (const target of [a(), b()]) expect(await bearerStatus(target, first.access_token)).toBe(200);
    expect(await bearerStatus(cluster.service, second.access_token, true)).toBe(200);

    const asked = await post(b().url, '/auth/password/forgot', { email });
    expect(asked.status).toBe(202);
    const mail = await waitForMail(email, RESET);
    expect(mail.link).toMatch(new RegExp(`^${APP_URL}/reset-password#token=mt_`));

    const reset = await post(a().url, '/auth/password/reset', { token: mail.token, new_password: 'a brand new passphrase' });
    expect(reset.status).toBe(200);
    const fresh = (await reset.json()) as Pair;
    const since = performance.now();
    const times = await Promise.all(
      [first, second].flatMap((old) => [
        rejectedWithin(a(), old.access_token, since),
        rejectedWithin(b(), old.access_token, since),
        rejectedWithin(cluster.service, old.access_token, since, true),
      ]),
    );
    console.log(`reset: both old access tokens rejected by A, B and the resource service within ${Math.max(...times).toFixed(1)} ms of the 200 (${times.map((x) => x.toFixed(1)).join(', ')})`);
    for (const old of [first, second]) {
      for (const replica of cluster.replicas) expect((await post(replica.url, '/auth/refresh', { refresh_token: old.refresh_token })).status).toBe(401);
    }
    const again = await post(b().url, '/auth/password/reset', { token: mail.token, new_password: 'another passphrase' });
    expect(again.status).toBe(410);
    expect(await again.json()).toMatchObject({ code: 'mail_token_used' });
    expect((await post(b().url, '/auth/login', { email, password: PASSWORD })).status).toBe(401);
    await loginAs(a().url, email, 'a brand new passphrase');
    for (const target of [a(), b()]) expect(await bearerStatus(target, fresh.access_token)).toBe(200);
    expect(await bearerStatus(cluster.service, fresh.access_token, true)).toBe(200);
  });

  it('an unknown address gets the same 202 body and no mail', async () => {
    const { email } = await registerAndLogin(a().url);
    await waitForMail(email, VERIFY);
    const unknown = uniqueEmail('nobody');
    const known = await post(a().url, '/auth/password/forgot', { email });
    const none = await post(b().url, '/auth/password/forgot', { email: unknown });
    expect(none.status).toBe(known.status);
    expect(await none.text()).toBe(await known.text());
    await waitForMail(email, RESET);
    await sleep(1_500); // a poll of every replica's drainer
    expect(smtp.to(unknown)).toEqual([]);
  });

  it('with the SMTP server down, requests answer as usual; once it is back every mail arrives, none twice (both replicas draining)', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, (_, i) => registerAndLogin(cluster.replicas[i % 2]!.url)));
    for (const user of users) await waitForMail(user.email, VERIFY);
    const usual = await post(a().url, '/auth/password/forgot', { email: uniqueEmail('usual') });
    const usualBody = await usual.text();

    await smtp.stop();
    const down = performance.now();
    const answers = await Promise.all(users.map((u, i) => post(cluster.replicas[i % 2]!.url, '/auth/password/forgot', { email: u.email })));
    for (const res of answers) {
      expect(res.status).toBe(usual.status);
      expect(await res.text()).toBe(usualBody);
    }
    const late = await Promise.all([0, 1].map((i) => registerAndLogin(cluster.replicas[i]!.url)));
    console.log(`during the outage: ${answers.length} forgot requests and ${late.length} registrations answered as usual in ${(performance.now() - down).toFixed(0)} ms`);
    await sleep(3_000); // both replicas try and fail, more than once
    expect(users.every((u) => mailsTo(u.email, RESET).length === 0)).toBe(true);

    await smtp.start();
    const back = performance.now();
    for (const user of users) await waitForMail(user.email, RESET);
    for (const user of late) await waitForMail(user.email, VERIFY);
    console.log(`every mail arrived ${(performance.now() - back).toFixed(0)} ms after the SMTP server came back`);
    await sleep(3_000); // room for a duplicate, if a replica were to send one
    for (const user of users) expect(mailsTo(user.email, RESET)).toHaveLength(1);
    for (const user of late) expect(mailsTo(user.email, VERIFY)).toHaveLength(1);
    const ids = smtp.received.map((m) => m.messageId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const user of users) {
      const reset = await post(b().url, '/auth/password/reset', { token: mailsTo(user.email, RESET)[0]!.token, new_password: 'after the outage' });
      expect(reset.status).toBe(200);
    }
  });

  it('a deleted account: its access tokens are refused by the resource service within milliseconds, and its address registers again', async () => {
    const { email, pair } = await registerAndLogin(a().url);
    const other = await loginAs(b().url, email);
    expect(await bearerStatus(cluster.service, pair.access_token, true)).toBe(200);
    expect(await bearerStatus(cluster.service, other.access_token, true)).toBe(200);

    const res = await fetch(`${b().url}/auth/account`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${pair.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ password: PASSWORD }),
    });
    expect(res.status).toBe(204);
    const since = performance.now();
    const [service, otherAtService, replicaA] = await Promise.all([
      rejectedWithin(cluster.service, pair.access_token, since, true),
      rejectedWithin(cluster.service, other.access_token, since, true),
      rejectedWithin(a(), other.access_token, since),
    ]);
    console.log(`account deletion: the resource service refused its tokens ${service.toFixed(1)} ms and ${otherAtService.toFixed(1)} ms after the 204 (replica A: ${replicaA.toFixed(1)} ms)`);
    const refused = await fetch(`${cluster.service.url}/api/profile`, { headers: { authorization: `Bearer ${pair.access_token}` } });
    expect(await refused.json()).toMatchObject({ code: 'token_revoked' });
    for (const replica of cluster.replicas) expect((await post(replica.url, '/auth/refresh', { refresh_token: other.refresh_token })).status).toBe(401);

    const again = await registerAndLogin(a().url, email);
    expect(await bearerStatus(cluster.service, again.pair.access_token, true)).toBe(200);
  });
});
