// The Swagger UI at /docs still renders in a real browser under the Content-Security-Policy
// we send (headers.test.ts checks the header itself; only a browser enforces it).
import type net from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromium, skipUnless } from '../../../../test/lib/requirements.ts';
import { launchChromium } from '../helpers/browser.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';

skipUnless(chromium)('/docs in Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;
  beforeAll(async () => {
    t = await createTestApp({ db: 'pglite' });
    await t.fastify.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.fastify.server.address() as net.AddressInfo).port}`;
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('renders the operations from openapi.yaml with no CSP violation', async () => {
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/content security policy/i.test(message.text())) violations.push(message.text());
    });
    const response = await page.goto(`${base}/docs/`, { timeout: 15_000 });
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    // Rendered by Swagger UI's scripts from the spec it fetched: the title and an operation.
    await page.locator('.swagger-ui .info .title').waitFor({ timeout: 15_000 });
    expect(await page.locator('.swagger-ui .info .title').innerText()).toContain('Tessera');
    await page.locator('.opblock-summary-path', { hasText: '/auth/login' }).first().waitFor({ timeout: 15_000 });
    expect(violations.join('\n')).toBe('');
    await page.close();
  });
});
