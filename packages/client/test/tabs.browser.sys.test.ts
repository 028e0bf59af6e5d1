// @tessera/client in headless Chromium, through the example SPA, against a real Tessera
// process whose access tokens live 20 s: three tabs of one browser share one login, each
// refresh period costs exactly one POST /auth/refresh (counted at the server), every tab
// keeps working, and a logout in one tab signs out the others.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromium, skipUnless } from '../../../test/lib/requirements.ts';
import { startSpaStack, type SpaStack } from '../../server/test/helpers/browser.ts';
import { PASSWORD, uniqueEmail } from '../../server/test/helpers/flows.ts';

// Long enough that opening the tabs (slow on a busy machine) ends before the first refresh is due (half of it).
const ACCESS_TOKEN_TTL = 20;
const TABS = 3;

skipUnless(chromium)('@tessera/client across tabs (example SPA, headless Chromium)', () => {
  let stack: SpaStack | undefined;
  let api = '';

  beforeAll(async () => {
    stack = await startSpaStack(() => ({ ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL) }));
    api = stack.api;
  }, 90_000);

  afterAll(() => stack?.stop(), 30_000);

  /** Successful refreshes the server has answered, from its own /metrics. */
  async function refreshesAtServer(): Promise<number> {
    const text = await (await fetch(`${stack!.tessera.url}/metrics`)).text();
    return [...text.matchAll(/^tessera_refreshes_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  }

  const state = (page: Page) => page.locator('#status').getAttribute('data-state');
  const tokenCount = async (page: Page) => Number(await page.textContent('#token-count'));

  it('shares one login, refreshes once per period for all tabs, and a logout in one tab reaches the others', async () => {
    const email = uniqueEmail('tabs');
    await stack!.register(email);

    // One context: the tabs of one browser, sharing the cookie, the channel and the locks.
    const first = await stack!.newPage();
    const context = first.context();
    const refreshRequests: string[] = [];
    context.on('request', (r) => {
      if (r.url() === `${api}/auth/refresh`) refreshRequests.push(r.url());
    });

    await first.goto(`${stack!.spa.url}/`);
    await first.locator('#status[data-state="logged-out"]').waitFor();
    await first.fill('#login-email', email);
    await first.fill('#login-password', PASSWORD);
    await first.setChecked('#login-remember', true);
    await first.click('#login-button');
    await first.locator('#status[data-state="logged-in"]').waitFor();
    // The first tab found no session on load: one refresh attempt (401, no cookie yet).
    const attemptsBeforeLogin = refreshRequests.length;

    // The other tabs open on the logged-in app and take the first tab's token: no refresh.
    const tabs = [first];
    for (let i = 1; i < TABS; i++) {
      const page = await context.newPage();
      await page.goto(`${stack!.spa.url}/`);
      await page.locator('#status[data-state="logged-in"]').waitFor();
      expect(await page.textContent('#me-email')).toBe(email);
      tabs.push(page);
    }
    expect(refreshRequests.length).toBe(attemptsBeforeLogin);
    const before = await refreshesAtServer();
    expect(before).toBe(0);

    // Two refresh periods: every tab's timer fires at about the same instant, yet each
    // period costs one refresh, and every tab ends up holding the new token.
    for (let period = 1; period <= 2; period++) {
      const counts = await Promise.all(tabs.map(tokenCount));
      await expect
        .poll(async () => (await Promise.all(tabs.map(tokenCount))).every((n, i) => n > counts[i]!), { timeout: ACCESS_TOKEN_TTL * 1000 })
        .toBe(true);
      // Let any stray refresh land before counting.
      await new Promise((r) => setTimeout(r, 500));
      expect(await refreshesAtServer()).toBe(period);
      const tokens = await Promise.all(tabs.map((page) => page.textContent('#token-expires')));
      expect(new Set(tokens).size).toBe(1);
    }
    expect(refreshRequests.length - attemptsBeforeLogin).toBe(2);

    // Every tab still works with the shared token.
    for (const page of tabs) {
      const [me] = await Promise.all([page.waitForResponse((r) => r.url() === `${api}/auth/me`), page.click('#me-button')]);
      expect(me.status()).toBe(200);
    }

    // A logout in the last tab signs out every tab, without a request from them.
    const [logout] = await Promise.all([
      tabs.at(-1)!.waitForResponse((r) => r.url() === `${api}/auth/logout`),
      tabs.at(-1)!.click('#logout-button'),
    ]);
    expect(logout.status()).toBe(204);
    for (const page of tabs) await expect.poll(() => state(page)).toBe('logged-out');
    expect(await refreshesAtServer()).toBe(2);
  }, 120_000);
});
