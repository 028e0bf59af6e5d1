// The example SPA (examples/spa) in headless Chromium against a real Tessera process.
//
// Origins: the API on http://localhost:P, the SPA on http://localhost:S — same site,
// different origin, so the SameSite=Strict refresh cookie travels with the SPA's
// credentialed fetches, and CORS_ORIGINS lets the SPA read the answers. The attacker's
// page is served from http://127.0.0.1:A (another site) and from http://localhost:A
// (same site as the API, an origin that is not allowed).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Cookie, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromium, skipUnless } from '../../../../test/lib/requirements.ts';
import { startSpaStack, type SpaStack } from '../helpers/browser.ts';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { codeFor, nextStep } from '../helpers/totp.ts';

const COOKIE_NAME = 'tessera_refresh';

interface AttackServer {
  port: number;
  close(): Promise<void>;
}

/** Serves `/`, a page whose form posts itself to `target` as soon as it loads, and a quiet page. */
async function serveAttackPage(target: string): Promise<AttackServer> {
  const html = `<!doctype html>
<html><body>
<h1>You won a prize</h1>
<form id="csrf" method="POST" action="${target}">
  <input type="hidden" name="refresh_token" value="attacker-chosen">
</form>
<script>document.getElementById('csrf').submit();</script>
</body></html>`;
  const server = http.createServer((request, response) => {
    if (request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    } else if (request.url === '/quiet') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>quiet</title>');
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

skipUnless(chromium)('example SPA in headless Chromium', () => {
  let stack: SpaStack | undefined;
  let attack: AttackServer | undefined;
  let api = '';
  let email = '';

  beforeAll(async () => {
    stack = await startSpaStack();
    api = stack.api;
    attack = await serveAttackPage(`${api}/auth/refresh`);
    email = uniqueEmail('spa');
    await stack.register(email);
  }, 90_000);

  afterAll(async () => {
    await attack?.close().catch(() => undefined);
    await stack?.stop();
  }, 30_000);

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const page = await stack!.newPage();
    return { context: page.context(), page };
  }

  async function waitForState(page: Page, state: 'logged-in' | 'logged-out' | 'mfa-required'): Promise<void> {
    await page.locator(`#status[data-state="${state}"]`).waitFor();
  }

  /** Opens the SPA (no session yet) and submits its login form; returns Tessera's answer. */
  async function submitLogin(page: Page, remember: boolean, who = email): Promise<Response> {
    await page.goto(`${stack!.spa.url}/`);
    await waitForState(page, 'logged-out');
    await page.fill('#login-email', who);
    await page.fill('#login-password', PASSWORD);
    await page.setChecked('#login-remember', remember);
    const [response] = await Promise.all([apiResponse(page, '/auth/login'), page.click('#login-button')]);
    expect(response.status()).toBe(200);
    return response;
  }

  /** Logs in through the SPA's form (an account without a second factor); returns the login answer. */
  async function logIn(page: Page, remember: boolean, who = email): Promise<{ access_token: string; expires_in: number }> {
    const response = await submitLogin(page, remember, who);
    const body = (await response.json()) as { access_token: string; expires_in: number; refresh_token?: string };
    // Cookie delivery: the refresh token is never in a body the page's script can read.
    expect(body.refresh_token).toBeUndefined();
    await waitForState(page, 'logged-in');
    expect(await page.textContent('#me-email')).toBe(who);
    return body;
  }

  /** The page's next call to Tessera's `path` (POST unless `method`). */
  function apiResponse(page: Page, path: string, method = 'POST'): Promise<Response> {
    return page.waitForResponse((r) => r.url() === `${api}${path}` && r.request().method() === method);
  }

  async function refreshCookie(context: BrowserContext): Promise<Cookie | undefined> {
    return (await context.cookies(api)).find((c) => c.name === COOKIE_NAME);
  }

  /** What the page's own script can read: where a token must never be. */
  async function scriptVisibleStorage(page: Page) {
    // A string, because this project's TypeScript has no DOM types; it runs in the page.
    return page.evaluate<{ localStorage: string; sessionStorage: string; documentCookie: string }>(
      '({ localStorage: JSON.stringify({ ...localStorage }), sessionStorage: JSON.stringify({ ...sessionStorage }), documentCookie: document.cookie })',
    );
  }

  /** Opens the attack page on `origin`: its form posts to /auth/refresh, and Tessera refuses it. Returns what the browser sent. */
  async function formPostRefused(page: Page, origin: string): Promise<Record<string, string>> {
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${api}/auth/refresh` && r.request().method() === 'POST'),
      page.goto(`${origin}/`),
    ]);
    expect(answer.status()).toBe(403);
    expect(((await answer.json()) as { code: string }).code).toBe('csrf_rejected');
    const sent = await answer.request().allHeaders();
    expect(sent['origin']).toBe(origin);
    return sent;
  }

  /** The session is untouched: the cookie is still there and the SPA restores from it. */
  async function expectSessionSurvived(page: Page, before: Cookie): Promise<void> {
    expect((await refreshCookie(page.context()))?.value).toBe(before.value);
    await page.goto(`${stack!.spa.url}/`);
    await waitForState(page, 'logged-in');
    expect(await page.textContent('#me-email')).toBe(email);
  }

  it('logs in with cookie delivery, keeps the access token in memory only, and restores the session after a reload', async () => {
    const { context, page } = await newPage();
    try {
      const tokens = await logIn(page, true);

      const cookie = await refreshCookie(context);
      expect(cookie).toMatchObject({ domain: 'localhost', path: '/', httpOnly: true, secure: true, sameSite: 'Strict' });
      // remember: true → a persistent cookie that lasts as long as the refresh token.
      expect(cookie!.expires).toBeGreaterThan(Date.now() / 1000 + 3600);

      const visible = await scriptVisibleStorage(page);
      expect(visible.localStorage).toBe('{}');
      expect(visible.sessionStorage).toBe('{}');
      // The SPA's page is on the same host, so only HttpOnly keeps the cookie from its script.
      expect(visible.documentCookie).not.toContain(COOKIE_NAME);
      for (const value of Object.values(visible)) {
        expect(value).not.toContain(tokens.access_token);
        expect(value).not.toContain(cookie!.value);
      }

      // A reload forgets the access token; the cookie brings the session back.
      const [restore] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${api}/auth/refresh`),
        page.reload(),
      ]);
      expect(restore.status()).toBe(200);
      const sent = await restore.request().allHeaders();
      expect(sent['x-requested-with']).toBe('tessera-client');
      expect(sent['origin']).toBe(stack!.spa.url);
      expect(sent['cookie']).toContain(`${COOKIE_NAME}=${cookie!.value}`);
      await waitForState(page, 'logged-in');
      expect(await page.textContent('#me-email')).toBe(email);
      // One access token received by the reloaded page: the one the refresh returned.
      expect(await page.textContent('#token-count')).toBe('1');

      // The refresh rotated the token: the cookie holds a new one.
      const rotated = await refreshCookie(context);
      expect(rotated?.value).toBeDefined();
      expect(rotated!.value).not.toBe(cookie!.value);

      const [me] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${api}/auth/me`),
        page.click('#me-button'),
      ]);
      expect(me.status()).toBe(200);
      expect((await me.request().allHeaders())['authorization']).toMatch(/^Bearer /);
      expect(await scriptVisibleStorage(page)).toEqual({ localStorage: '{}', sessionStorage: '{}', documentCookie: '' });
    } finally {
      await context.close();
    }
  });

  it('refreshes the access token before it expires and after a 401', async () => {
    const { context, page } = await newPage();
    try {
      // A fake clock in the page: the refresh timer fires without the test waiting for it.
      await page.clock.install();
      const tokens = await logIn(page, false);
      // remember: false → a browser-session cookie.
      expect((await refreshCookie(context))?.expires).toBe(-1);
      expect(await page.textContent('#token-count')).toBe('1'); // the login's

      const [timed] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${api}/auth/refresh`),
        page.clock.fastForward((tokens.expires_in - 1) * 1000),
      ]);
      expect(timed.status()).toBe(200);
      await page.locator('#token-count', { hasText: '2' }).waitFor();

      // The API answers the next /auth/me with 401: the SPA refreshes once and retries.
      let rejected = 0;
      await page.route(`${api}/auth/me`, async (route) => {
        if (route.request().method() !== 'GET' || rejected > 0) return route.continue();
        rejected += 1;
        return route.fulfill({
          status: 401,
          contentType: 'application/problem+json',
          headers: {
            'access-control-allow-origin': stack!.spa.url,
            'access-control-allow-credentials': 'true',
            'www-authenticate': 'Bearer error="invalid_token"',
          },
          body: JSON.stringify({ type: 'about:blank', title: 'Invalid access token', status: 401, code: 'invalid_token', detail: 'expired' }),
        });
      });
      const meCalls: Response[] = [];
      page.on('response', (r) => {
        if (r.url() === `${api}/auth/me`) meCalls.push(r);
      });
      await page.click('#me-button');
      await page.locator('#token-count', { hasText: '3' }).waitFor();
      await expect.poll(() => meCalls.map((r) => r.status())).toEqual([401, 200]);
      await waitForState(page, 'logged-in');
      expect(await page.textContent('#me-email')).toBe(email);
    } finally {
      await context.close();
    }
  });

  it('refuses a cross-site form POST to /auth/refresh, and the session survives it', async () => {
    const { context, page } = await newPage();
    try {
      await logIn(page, true);
      const before = await refreshCookie(context);

      const sent = await formPostRefused(page, `http://127.0.0.1:${attack!.port}`);
      expect(sent['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
      // SameSite=Strict: a request started by another site does not even carry the cookie.
      expect(sent['cookie'] ?? '').not.toContain(COOKIE_NAME);
      // What the browser shows the victim is the API's refusal.
      await page.waitForURL(`${api}/auth/refresh`);
      expect(await page.textContent('body')).toContain('csrf_rejected');

      await expectSessionSurvived(page, before!);
    } finally {
      await context.close();
    }
  });

  it('refuses a same-site form POST from an origin that is not allowed, though it carries the cookie', async () => {
    const { context, page } = await newPage();
    try {
      await logIn(page, true);
      const before = await refreshCookie(context);
      // localhost:A is the API's site but not one of its CORS_ORIGINS.
      const attacker = `http://localhost:${attack!.port}`;

      const sent = await formPostRefused(page, attacker);
      // Same site: SameSite does not help here; the header rule is what refuses it.
      expect(sent['cookie']).toContain(`${COOKIE_NAME}=${before!.value}`);

      // Script on that origin cannot add the header either: the preflight is refused.
      await page.goto(`${attacker}/quiet`);
      const outcome = await page.evaluate(async (url) => {
        try {
          const res = await fetch(url, { method: 'POST', credentials: 'include', headers: { 'X-Requested-With': 'fetch' } });
          return `status ${res.status}`;
        } catch (err) {
          return (err as Error).name;
        }
      }, `${api}/auth/refresh`);
      expect(outcome).toBe('TypeError');

      await expectSessionSurvived(page, before!);
    } finally {
      await context.close();
    }
  });

  it('logs out: a reload finds no session, and the old refresh cookie and access token are dead', async () => {
    const { context, page } = await newPage();
    try {
      const tokens = await logIn(page, true);
      const cookie = await refreshCookie(context);
      expect(cookie).toBeDefined();

      const [logout] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${api}/auth/logout` && r.request().method() === 'POST'),
        page.click('#logout-button'),
      ]);
      expect(logout.status()).toBe(204);
      await waitForState(page, 'logged-out');
      expect(await refreshCookie(context)).toBeUndefined();

      await page.reload();
      await waitForState(page, 'logged-out');
      expect(await page.textContent('#me-email')).toBe('');

      // Putting the old cookie back into the browser does not bring the session back, and
      // the API tells the browser to drop it.
      await context.addCookies([cookie!]);
      const [restore] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${api}/auth/refresh`),
        page.reload(),
      ]);
      expect(restore.status()).toBe(401);
      await waitForState(page, 'logged-out');
      expect(await refreshCookie(context)).toBeUndefined();

      // Replaying the cookie the browser held is refused (from outside the browser: no Origin).
      const replay = await fetch(`${stack!.tessera.url}/auth/refresh`, {
        method: 'POST',
        headers: { cookie: `${COOKIE_NAME}=${cookie!.value}`, 'x-requested-with': 'fetch' },
      });
      expect(replay.status).toBe(401);
      expect(((await replay.json()) as { code: string }).code).toBe('invalid_grant');

      const me = await fetch(`${stack!.tessera.url}/auth/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(me.status).toBe(401);
    } finally {
      await context.close();
    }
  });

  it('a second factor: set up on the account page, then a login asks for a code; a recovery code works once; turned off again', async () => {
    const who = uniqueEmail('spa-mfa');
    await stack!.register(who);
    const { context, page } = await newPage();
    const errorText = () => page.textContent('#error');
    const mfaState = () => page.textContent('#mfa-state');
    const codesLeft = (n: number) => `On: logins ask for a code from your authenticator app. Recovery codes left: ${n}.`;
    try {
      // Off at first: the page offers only "set up" (from GET /auth/mfa).
      await logIn(page, false, who);
      await expect.poll(mfaState).toBe('Off: logins need only the password.');
      expect(await page.isVisible('#mfa-remove-form')).toBe(false);
      // Set up: the password, then the secret and its otpauth URI as text.
      await page.fill('#mfa-enroll-password', PASSWORD);
      const [enroll] = await Promise.all([apiResponse(page, '/auth/mfa/totp/enroll'), page.click('#mfa-enroll-button')]);
      expect(enroll.status()).toBe(200);
      await page.locator('#mfa-confirm-form').waitFor();
      const secret = (await page.textContent('#mfa-secret'))!;
      expect(secret).toMatch(/^[A-Z2-7]{32}$/);
      const uri = new URL((await page.textContent('#mfa-otpauth-uri'))!);
      expect(uri.protocol).toBe('otpauth:');
      expect(uri.host).toBe('totp');
      expect(decodeURIComponent(uri.pathname)).toBe(`/Tessera:${who}`);
      expect(uri.searchParams.get('secret')).toBe(secret);

      // A wrong code is refused with the server's code; the form stays for another try.
      await page.fill('#mfa-confirm-code', wrongCode(secret));
      const [refused] = await Promise.all([apiResponse(page, '/auth/mfa/totp/confirm'), page.click('#mfa-confirm-button')]);
      expect(refused.status()).toBe(401);
      await expect.poll(errorText).toContain('invalid_mfa_code');
      expect(await page.isVisible('#mfa-confirm-form')).toBe(true);

      // The app's code (computed by the tests' own RFC 6238 implementation) turns it on.
      const confirmedAt = Date.now();
      const confirmCode = codeFor(secret, confirmedAt);
      await page.fill('#mfa-confirm-code', confirmCode);
      const [confirm] = await Promise.all([apiResponse(page, '/auth/mfa/totp/confirm'), page.click('#mfa-confirm-button')]);
      expect(confirm.status()).toBe(200);
      await page.locator('#mfa-recovery').waitFor();
      const recoveryCodes = await page.locator('#mfa-recovery-codes li').allTextContents();
      expect(recoveryCodes).toHaveLength(10);
      for (const code of recoveryCodes) expect(code).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
      // Shown once: the secret is off the page already, the codes once the user has saved them.
      expect(await page.textContent('#mfa-secret')).toBe('');
      await page.click('#mfa-recovery-done');
      expect(await page.locator('#mfa-recovery-codes li').count()).toBe(0);
      // On now: the page offers only "turn off", and counts the recovery codes.
      await expect.poll(mfaState).toBe(codesLeft(10));
      expect(await page.isVisible('#mfa-enroll-form')).toBe(false);
      await logOut(page);

      // The password alone no longer signs in: no tokens and no cookie, a code form instead.
      const pending = await submitLogin(page, false, who);
      expect(await pending.json()).toMatchObject({ mfa_required: true, methods: ['totp', 'recovery_code'] });
      await waitForState(page, 'mfa-required');
      expect(await refreshCookie(context)).toBeUndefined();

      // The code that confirmed the app is spent: its step was used (a replay is refused).
      await page.fill('#mfa-code', confirmCode);
      const [replay] = await Promise.all([apiResponse(page, '/auth/mfa/verify'), page.click('#mfa-button')]);
      expect(replay.status()).toBe(401);
      await expect.poll(errorText).toContain('invalid_mfa_code');
      await waitForState(page, 'mfa-required');

      // The next step's code, as the app shows it once the step has turned.
      await new Promise((r) => setTimeout(r, nextStep(confirmedAt) - Date.now() + 200));
      await page.fill('#mfa-code', codeFor(secret, Date.now()));
      const [verified] = await Promise.all([apiResponse(page, '/auth/mfa/verify'), page.click('#mfa-button')]);
      expect(verified.status()).toBe(200);
      const tokens = (await verified.json()) as { access_token: string; refresh_token?: string };
      expect(tokens.refresh_token).toBeUndefined();
      expect(claimsOf(tokens.access_token).amr).toEqual(['pwd', 'otp']);
      await expectSignedIn(page, who);
      expect(await refreshCookie(context)).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
      await logOut(page);

      // A recovery code instead of the app; it signs in once.
      await loginWithRecoveryCode(page, who, recoveryCodes[0]!);
      const [verifiedByRecovery] = await Promise.all([apiResponse(page, '/auth/mfa/verify'), page.click('#mfa-button')]);
      expect(verifiedByRecovery.status()).toBe(200);
      await expectSignedIn(page, who);
      await logOut(page);

      // A fake clock in the page from here: the code form's 5 minutes pass without waiting.
      await page.clock.install();
      await loginWithRecoveryCode(page, who, recoveryCodes[0]!);
      const [usedAgain] = await Promise.all([apiResponse(page, '/auth/mfa/verify'), page.click('#mfa-button')]);
      expect(usedAgain.status()).toBe(401);
      await expect.poll(errorText).toContain('invalid_mfa_code');
      // The mfa_token expires: back to the login form, saying why.
      await page.clock.fastForward(300_000);
      await waitForState(page, 'logged-out');
      expect(await errorText()).toBe('The sign-in took too long: log in again.');
      expect(await page.isVisible('#mfa')).toBe(false);

      // Turn it off (the password and a recovery code): the password alone signs in again.
      await loginWithRecoveryCode(page, who, recoveryCodes[1]!);
      await Promise.all([apiResponse(page, '/auth/mfa/verify'), page.click('#mfa-button')]);
      await waitForState(page, 'logged-in');
      await expect.poll(mfaState).toBe(codesLeft(8));
      await page.fill('#mfa-remove-password', PASSWORD);
      await page.fill('#mfa-remove-code', recoveryCodes[2]!);
      const [removed] = await Promise.all([apiResponse(page, '/auth/mfa/totp', 'DELETE'), page.click('#mfa-remove-button')]);
      expect(removed.status()).toBe(204);
      await expect.poll(errorText).toContain('two-factor authentication is off');
      await expect.poll(mfaState).toBe('Off: logins need only the password.');
      expect(await page.isVisible('#mfa-enroll-form')).toBe(true);
      await logOut(page);
      await logIn(page, false, who);
    } finally {
      await context.close();
    }
  }, 90_000);

  /** Signed in as `who`, and the session works: the page's /auth/me call succeeds with the bearer token. */
  async function expectSignedIn(page: Page, who: string): Promise<void> {
    await waitForState(page, 'logged-in');
    expect(await page.textContent('#me-email')).toBe(who);
    const [me] = await Promise.all([apiResponse(page, '/auth/me', 'GET'), page.click('#me-button')]);
    expect(me.status()).toBe(200);
    expect(((await me.json()) as { email: string }).email).toBe(who);
  }

  async function logOut(page: Page): Promise<void> {
    const [logout] = await Promise.all([apiResponse(page, '/auth/logout'), page.click('#logout-button')]);
    expect(logout.status()).toBe(204);
    await waitForState(page, 'logged-out');
  }

  /** Logs in with the password and fills the code form's recovery-code input (not yet sent). */
  async function loginWithRecoveryCode(page: Page, who: string, recoveryCode: string): Promise<void> {
    await submitLogin(page, false, who);
    await waitForState(page, 'mfa-required');
    await page.click('#mfa-switch');
    expect(await page.isVisible('#mfa-code')).toBe(false);
    await page.fill('#mfa-recovery-code', recoveryCode);
  }
});

/** A 6-digit code the authenticator does not show now, nor a step either side (the server's drift). */
function wrongCode(secret: string): string {
  const now = Date.now();
  const valid = new Set([-30_000, 0, 30_000].map((d) => codeFor(secret, now + d)));
  let code = '000000';
  while (valid.has(code)) code = String(Number(code) + 1).padStart(6, '0');
  return code;
}

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
