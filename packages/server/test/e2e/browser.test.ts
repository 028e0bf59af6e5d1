// The example SPA (examples/spa) in headless Chromium against a real Tessera process.
//
// Origins: the API on http://localhost:P, the SPA on http://localhost:S — same site,
// different origin, so the SameSite=Strict refresh cookie travels with the SPA's
// credentialed fetches, and CORS_ORIGINS lets the SPA read the answers. The attacker's
// page is served from http://127.0.0.1:A (another site) and from http://localhost:A
// (same site as the API, an origin that is not allowed).
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Cookie, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveSpa, type SpaServer } from '../../../../examples/spa/serve.ts';
import { chromiumInstalled, launchChromium } from '../helpers/browser.ts';
import { createTestDb, urlWithSchema, type TestDb } from '../helpers/db.ts';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { freePort, startProcess, type TesseraProcess } from '../helpers/process.ts';

const COOKIE_NAME = 'tessera_refresh';
const UI_TIMEOUT_MS = 15_000;

// Without Chromium the suite is skipped on a developer's machine, but never on CI.
const skip = !chromiumInstalled && process.env.CI === undefined;

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

describe.skipIf(skip)('example SPA in headless Chromium', () => {
  let testDb: TestDb | undefined;
  let keysDir: string | undefined;
  let tessera: TesseraProcess | undefined;
  let spa: SpaServer | undefined;
  let attack: AttackServer | undefined;
  let browser: Browser | undefined;
  const contexts = new Set<BrowserContext>();
  let api = '';
  let email = '';

  beforeAll(async () => {
    testDb = await createTestDb('postgres');
    keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-browser-keys-'));
    const apiPort = await freePort();
    api = `http://localhost:${apiPort}`;
    spa = await serveSpa({ apiUrl: api });
    attack = await serveAttackPage(`${api}/auth/refresh`);
    tessera = await startProcess({
      port: apiPort,
      env: {
        DATABASE_URL: urlWithSchema(testDb.schema!),
        KEYS_DIR: keysDir,
        ISSUER: api,
        CORS_ORIGINS: spa.url,
      },
    });
    browser = await launchChromium();

    email = uniqueEmail('spa');
    const res = await fetch(`${tessera.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
  }, 90_000);

  afterAll(async () => {
    // Each step on its own: one failing must not leave a process or a browser behind.
    const steps: (() => Promise<unknown>)[] = [
      async () => Promise.all([...contexts].map((c) => c.close())),
      async () => browser?.close(),
      async () => {
        if (!tessera) return;
        const stopped = await Promise.race([tessera.stop(), new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
        if (stopped === 'timeout') tessera.child.kill('SIGKILL');
      },
      async () => spa?.close(),
      async () => attack?.close(),
      async () => testDb?.drop(),
      async () => keysDir && fs.rmSync(keysDir, { recursive: true, force: true }),
    ];
    for (const step of steps) await step().catch(() => undefined);
  }, 30_000);

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser!.newContext();
    contexts.add(context);
    context.setDefaultTimeout(UI_TIMEOUT_MS);
    const page = await context.newPage();
    return { context, page };
  }

  async function closeContext(context: BrowserContext): Promise<void> {
    contexts.delete(context);
    await context.close();
  }

  async function waitForState(page: Page, state: 'logged-in' | 'logged-out'): Promise<void> {
    await page.locator(`#status[data-state="${state}"]`).waitFor();
  }

  /** Opens the SPA (no session yet) and logs in through its form; returns the login answer. */
  async function logIn(page: Page, remember: boolean): Promise<{ access_token: string; expires_in: number }> {
    await page.goto(`${spa!.url}/`);
    await waitForState(page, 'logged-out');
    await page.fill('#login-email', email);
    await page.fill('#login-password', PASSWORD);
    await page.setChecked('#login-remember', remember);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${api}/auth/login` && r.request().method() === 'POST'),
      page.click('#login-button'),
    ]);
    expect(response.status()).toBe(200);
    const body = (await response.json()) as { access_token: string; expires_in: number; refresh_token?: string };
    // Cookie delivery: the refresh token is never in a body the page's script can read.
    expect(body.refresh_token).toBeUndefined();
    await waitForState(page, 'logged-in');
    expect(await page.textContent('#me-email')).toBe(email);
    return body;
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
      expect(sent['origin']).toBe(spa!.url);
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
      await closeContext(context);
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
            'access-control-allow-origin': spa!.url,
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
      await closeContext(context);
    }
  });

  it('refuses a cross-site form POST to /auth/refresh, and the session survives it', async () => {
    const { context, page } = await newPage();
    try {
      await logIn(page, true);
      const before = await refreshCookie(context);

      const [answer] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${api}/auth/refresh` && r.request().method() === 'POST'),
        page.goto(`http://127.0.0.1:${attack!.port}/`),
      ]);
      expect(answer.status()).toBe(403);
      expect(((await answer.json()) as { code: string }).code).toBe('csrf_rejected');
      const sent = await answer.request().allHeaders();
      expect(sent['origin']).toBe(`http://127.0.0.1:${attack!.port}`);
      expect(sent['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
      // SameSite=Strict: a request started by another site does not even carry the cookie.
      expect(sent['cookie'] ?? '').not.toContain(COOKIE_NAME);
      // What the browser shows the victim is the API's refusal.
      await page.waitForURL(`${api}/auth/refresh`);
      expect(await page.textContent('body')).toContain('csrf_rejected');

      // The session is untouched: the cookie is still there and the SPA restores from it.
      expect((await refreshCookie(context))?.value).toBe(before!.value);
      await page.goto(`${spa!.url}/`);
      await waitForState(page, 'logged-in');
      expect(await page.textContent('#me-email')).toBe(email);
    } finally {
      await closeContext(context);
    }
  });

  it('refuses a same-site form POST from an origin that is not allowed, though it carries the cookie', async () => {
    const { context, page } = await newPage();
    try {
      await logIn(page, true);
      const before = await refreshCookie(context);
      // localhost:A is the API's site but not one of its CORS_ORIGINS.
      const attacker = `http://localhost:${attack!.port}`;

      const [answer] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${api}/auth/refresh` && r.request().method() === 'POST'),
        page.goto(`${attacker}/`),
      ]);
      expect(answer.status()).toBe(403);
      expect(((await answer.json()) as { code: string }).code).toBe('csrf_rejected');
      const sent = await answer.request().allHeaders();
      expect(sent['origin']).toBe(attacker);
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

      expect((await refreshCookie(context))?.value).toBe(before!.value);
      await page.goto(`${spa!.url}/`);
      await waitForState(page, 'logged-in');
      expect(await page.textContent('#me-email')).toBe(email);
    } finally {
      await closeContext(context);
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
      const replay = await fetch(`${tessera!.url}/auth/refresh`, {
        method: 'POST',
        headers: { cookie: `${COOKIE_NAME}=${cookie!.value}`, 'x-requested-with': 'fetch' },
      });
      expect(replay.status).toBe(401);
      expect(((await replay.json()) as { code: string }).code).toBe('invalid_grant');

      const me = await fetch(`${tessera!.url}/auth/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(me.status).toBe(401);
    } finally {
      await closeContext(context);
    }
  });
});
