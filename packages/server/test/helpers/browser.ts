// Headless Chromium for end-to-end tests: Debian's chromium driven by playwright-core
// (no browser download; `apt-get install chromium`), and the stack the browser tests share:
// a real Tessera process, the example SPA on another localhost port, and the browser.
import fs from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { serveSpa, type SpaServer } from '../../../../examples/spa/serve.ts';
import { CHROMIUM_PATH } from '../../../../test/lib/requirements.ts';
import { tempDir } from './app.ts';
import { createTestDb, urlWithSchema } from './db.ts';
import { PASSWORD } from './flows.ts';
import { freePort, startProcess, type TesseraProcess } from './process.ts';

// Suites that need it say skipUnless(chromium) (test/lib/requirements.ts): skipped on a
// developer's machine without it, failed under CI.
export { CHROMIUM_PATH };

const UI_TIMEOUT_MS = 15_000;

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install chromium, or set CHROMIUM_PATH`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface SpaStack {
  /** http://localhost:P: Tessera, as the page reaches it (same site as the SPA, another origin). */
  api: string;
  spa: SpaServer;
  tessera: TesseraProcess;
  browser: Browser;
  /** A page in a context of its own (its own cookies); stop() closes the contexts still open. */
  newPage(): Promise<Page>;
  /** Registers `email` with the test password through the API. */
  register(email: string): Promise<void>;
  /** Stops everything; each step on its own, so one failing leaves no process or browser behind. */
  stop(): Promise<void>;
}

/**
 * Tessera on a fresh schema with keys of its own, the SPA (in its CORS_ORIGINS), and Chromium.
 * `env` adds Tessera settings; it gets the SPA's origin (e.g. for APP_URL).
 */
export async function startSpaStack(env: (spaUrl: string) => Record<string, string> = () => ({})): Promise<SpaStack> {
  const cleanup: (() => Promise<unknown>)[] = [];
  const contexts = new Set<BrowserContext>();
  const stop = async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    const testDb = await createTestDb('postgres');
    cleanup.push(() => testDb.drop());
    const keysDir = tempDir('tessera-browser-keys-');
    cleanup.push(async () => fs.rmSync(keysDir, { recursive: true, force: true }));
    const apiPort = await freePort();
    const api = `http://localhost:${apiPort}`;
    const spa = await serveSpa({ apiUrl: api });
    cleanup.push(() => spa.close());
    const tessera = await startProcess({
      port: apiPort,
      env: { DATABASE_URL: urlWithSchema(testDb.schema!), KEYS_DIR: keysDir, ISSUER: api, CORS_ORIGINS: spa.url, ...env(spa.url) },
    });
    cleanup.push(async () => {
      const stopped = await Promise.race([tessera.stop(), new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
      if (stopped === 'timeout') tessera.child.kill('SIGKILL');
    });
    const browser = await launchChromium();
    cleanup.push(() => browser.close());
    cleanup.push(() => Promise.all([...contexts].map((c) => c.close())));
    return {
      api,
      spa,
      tessera,
      browser,
      async newPage() {
        const context = await browser.newContext();
        contexts.add(context);
        context.on('close', () => contexts.delete(context));
        context.setDefaultTimeout(UI_TIMEOUT_MS);
        return context.newPage();
      },
      async register(email) {
        const res = await fetch(`${api}/auth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email, password: PASSWORD }),
        });
        expect(res.status, await res.clone().text()).toBe(201);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
