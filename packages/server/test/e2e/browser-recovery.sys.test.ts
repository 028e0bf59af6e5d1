// The example SPA's recovery screens in headless Chromium: the links Tessera mails (through
// a real SMTP server started here) open the SPA, which takes the secret out of the address
// bar and posts it to Tessera. APP_URL is the SPA's origin, as in production.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromium, skipUnless } from '../../../../test/lib/requirements.ts';
import { startSpaStack, type SpaStack } from '../helpers/browser.ts';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { TestSmtpServer } from '../helpers/smtp.ts';

const NEW_PASSWORD = 'a password chosen in the browser';

skipUnless(chromium)('example SPA recovery screens in headless Chromium', () => {
  let smtp: TestSmtpServer | undefined;
  let stack: SpaStack | undefined;
  let api = '';

  beforeAll(async () => {
    smtp = await TestSmtpServer.start();
    stack = await startSpaStack((spaUrl) => ({ APP_URL: spaUrl, SMTP_URL: smtp!.url }));
    api = stack.api;
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
    await smtp?.stop().catch(() => undefined);
  }, 30_000);

  const newPage = () => stack!.newPage();

  async function registered(): Promise<string> {
    const email = uniqueEmail('spa-recovery');
    await stack!.register(email);
    return email;
  }

  it('verify-email: the mailed link verifies the address and leaves no token in the address bar', async () => {
    const email = await registered();
    const [mail] = await smtp!.waitFor(email);
    expect(mail!.link!.startsWith(`${stack!.spa.url}/verify-email#token=`)).toBe(true);
    const page = await newPage();
    const [verify] = await Promise.all([page.waitForResponse((r) => r.url() === `${api}/auth/email/verify`), page.goto(mail!.link!)]);
    expect(verify.status()).toBe(200);
    await page.locator('#link[data-outcome="ok"]').waitFor();
    expect(await page.textContent('#link-message')).toBe(`Your address ${email} is verified.`);
    expect(page.url()).toBe(`${stack!.spa.url}/verify-email`);
    // Opened again (a new tab, as from the mail), the link says it was used.
    const again = await newPage();
    await again.goto(mail!.link!);
    await again.locator('#link[data-outcome="failed"]').waitFor();
    expect(await again.textContent('#link-message')).toBe('This link was already used.');
  }, 90_000);

  it('forgot password → the mailed link → a new password in the reset screen → signed in; the old password is dead', async () => {
    const email = await registered();
    await smtp!.waitFor(email);
    const page = await newPage();
    await page.goto(`${stack!.spa.url}/`);
    await page.locator('#status[data-state="logged-out"]').waitFor();
    await page.fill('#forgot-email', email);
    const [asked] = await Promise.all([page.waitForResponse((r) => r.url() === `${api}/auth/password/forgot`), page.click('#forgot-button')]);
    expect(asked.status()).toBe(202);
    // The response event comes before the page's script has read it and updated the DOM: poll.
    await expect.poll(() => page.textContent('#error')).toContain('a reset link is on its way');

    const mails = await smtp!.waitFor(email, 2);
    const reset = mails.find((m) => m.subject === 'Reset your password')!;
    expect(reset.link!.startsWith(`${stack!.spa.url}/reset-password#token=`)).toBe(true);
    await page.goto(reset.link!);
    await page.locator('#status[data-state="reset-password"]').waitFor();
    // The secret left the address bar (and the history) before the form was even filled in.
    expect(page.url()).toBe(`${stack!.spa.url}/reset-password`);
    await page.fill('#reset-password', NEW_PASSWORD);
    const [answer] = await Promise.all([page.waitForResponse((r) => r.url() === `${api}/auth/password/reset`), page.click('#reset-button')]);
    expect(answer.status()).toBe(200);
    await page.locator('#status[data-state="logged-in"]').waitFor();
    // Cookie delivery: the new session's refresh token is an HttpOnly cookie, never seen by the page's script.
    expect((await answer.allHeaders())['set-cookie']).toMatch(/^tessera_refresh=rt_/);
    const cookie = (await page.context().cookies(api)).find((c) => c.name === 'tessera_refresh');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(await page.textContent('#me-email')).toBe(email);
    expect(await page.textContent('#me-verified')).toBe('yes');
    expect(page.url()).toBe(`${stack!.spa.url}/`);

    const login = (password: string) => fetch(`${api}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
    expect((await login(PASSWORD)).status).toBe(401);
    expect((await login(NEW_PASSWORD)).status).toBe(200);

    // The same link a second time: refused, with a message a person understands.
    const again = await newPage();
    await again.goto(reset.link!);
    await again.fill('#reset-password', 'yet another password');
    await Promise.all([again.waitForResponse((r) => r.url() === `${api}/auth/password/reset`), again.click('#reset-button')]);
    await expect.poll(() => again.textContent('#error')).toBe('This link was already used.');
  }, 90_000);
});
