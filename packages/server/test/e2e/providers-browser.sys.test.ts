// Sign-in with a provider end to end (issue 22): the example SPA in headless Chromium, "Acme"
// (panva's oidc-provider on loopback), Tessera replicas behind nginx. The sign-in starts on
// one replica (the page talks to it directly), Acme sends the browser back to the balancer's
// callback, which nginx's round robin hands to the other replica (checked in their request
// logs), the SPA trades the one-time code with its PKCE verifier through nginx, and the
// session works on every replica.
import type { Page } from 'playwright-core';
import { afterAll, expect, it } from 'vitest';
import { chromium, nginx, skipUnless } from '../../../../test/lib/requirements.ts';
import { startAcme, type Acme } from './acme-idp.ts';
import { useSpaCluster } from './spa-cluster.ts';

const state = (page: Page, value: string) => page.locator(`#status[data-state="${value}"]`).waitFor();
const ALICE = { login: 'alice', email: 'alice@acme.test' };

skipUnless(chromium, nginx)('sign-in with a provider through the example SPA on replicas behind nginx (Chromium, oidc-provider)', () => {
  let acme: Acme | undefined;
  const stack = useSpaCluster('providers-e2e', {
    // Two replicas: enough for nginx's round robin to split a flow, light on a shared 2-core machine.
    replicas: 2,
    env: async (_spaUrl, api) => {
      acme = await startAcme({
        redirectUris: [`${api}/auth/providers/acme/callback`],
        accounts: { [ALICE.login]: { email: ALICE.email, email_verified: true } },
      });
      // Request lines (info) say which replica served what (never the query: logger.ts).
      return { PROVIDERS: 'acme', LOG_LEVEL: 'info', ...acme.env('acme') };
    },
  });
  afterAll(() => acme?.close());

  it('signs in with Acme: start on one replica, the callback through nginx on the other, a clean address bar, a session every replica honours', async () => {
    const s = stack();
    /** How many requests for `path` each replica has logged. */
    const served = (path: string) => s.cluster.replicas.map((r) => r.output().split(`"${path}"`).length - 1);
    // nginx (one worker, round robin) sends its next request to the replica after the one
    // that answers this one: start on that replica, so the callback lands on the other.
    const before = served('/auth/identities');
    await (await fetch(`${s.api}/auth/identities`)).arrayBuffer();
    await expect.poll(() => served('/auth/identities').some((n, i) => n > before[i]!)).toBe(true);
    const starter = served('/auth/identities').findIndex((n, i) => n > before[i]!);
    const page = await s.open('/', s.replica(starter));
    await state(page, 'logged-out');
    await page.locator('#provider-acme').waitFor();
    expect(await page.textContent('#provider-acme')).toBe('Sign in with Acme');

    const starts: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/auth/providers/acme/start') && r.method() === 'POST') starts.push(r.url());
    });
    await page.click('#provider-acme');
    await page.waitForURL(`${acme!.issuer}/**`);
    expect(starts).toEqual([`${s.replica(starter)}/auth/providers/acme/start`]);
    // The verifier waits in this tab's sessionStorage; only its S256 challenge went to Tessera.
    await page.fill('input[name="login"]', ALICE.login);
    await page.fill('input[name="password"]', 'any password Acme accepts');
    const callback = page.waitForRequest((r) => r.url().startsWith(`${s.api}/auth/providers/acme/callback?`));
    const exchange = page.waitForResponse((r) => r.url() === `${s.api}/auth/providers/token`);
    await page.click('button[type="submit"]');
    await callback;
    const tokens = (await (await exchange).json()) as { access_token: string; refresh_token?: string };
    expect(tokens.refresh_token).toBeUndefined(); // cookie delivery
    await state(page, 'logged-in');
    expect(await page.textContent('#me-email')).toBe(ALICE.email);
    expect(await page.textContent('#token-idp')).toBe(' via acme');
    // The flow began on one replica and its callback was completed by the other.
    await expect.poll(() => served('/auth/providers/acme/callback').reduce((a, b) => a + b)).toBe(1);
    expect(served('/auth/providers/acme/callback')[starter]).toBe(0);
    // The one-time code left the address bar and the history before it was used.
    expect(page.url()).toBe(`${s.spa.url}/`);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

    // The access token works on every replica, and the refresh cookie through the balancer.
    for (let i = 0; i < s.cluster.replicas.length; i++) {
      const me = await fetch(`${s.replica(i)}/auth/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(me.status, `replica ${i}`).toBe(200);
      expect(((await me.json()) as { email: string }).email).toBe(ALICE.email);
    }
    await page.reload();
    await state(page, 'logged-in');
    expect(await page.textContent('#me-email')).toBe(ALICE.email);

    // The account page lists the identity; unlinking the only way to sign in is refused.
    await expect.poll(() => page.locator('#identity-list li').count()).toBe(1);
    expect(await page.getAttribute('#identity-list li', 'data-provider')).toBe('acme');
    expect(await page.textContent('#identity-list li')).toContain(ALICE.email);
    await page.click('#identity-list button[data-unlink-identity]');
    await expect.poll(() => page.textContent('#error')).toContain('last_sign_in_method');
    await expect.poll(() => page.locator('#identity-list li').count()).toBe(1);

    // Back through the address bar with the used code: no verifier in this tab, nothing sent.
    const replays: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/auth/providers/token')) replays.push(r.url());
    });
    await page.goto(`${s.spa.url}/auth/callback?code=replayed-or-planted`);
    await expect.poll(() => page.textContent('#error')).toContain('pkce_verifier_missing');
    expect(replays).toEqual([]);
    expect(page.url()).toBe(`${s.spa.url}/`);
  }, 180_000);
});
