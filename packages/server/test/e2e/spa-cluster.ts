// The example SPA in headless Chromium in front of `npm run cluster`'s topology: Tessera
// replicas behind nginx (scripts/cluster.ts) on a schema, keys folder and Redis prefix of
// their own. The page and the balancer are both on `localhost` (another port each): the same
// site, so the SameSite=Strict refresh cookie flows, and WebAuthn's RP ID can be `localhost`
// (a secure context without TLS). Used by the passkey and provider end-to-end tests.
import fs from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { serveSpa, type SpaServer } from '../../../../examples/spa/serve.ts';
import { startCluster, type Cluster } from '../../../../scripts/cluster.ts';
import { tempDir } from '../helpers/app.ts';
import { launchChromium } from '../helpers/browser.ts';
import { createTestDb, POSTGRES_URL, type TestDb } from '../helpers/db.ts';
import { freePort } from '../helpers/process.ts';
import { adminClient, deleteKeys, REDIS_URL, uniquePrefix } from '../revocation/redis-kit.ts';

const UI_TIMEOUT_MS = 20_000;

export interface SpaCluster {
  cluster: Cluster;
  spa: SpaServer;
  browser: Browser;
  /** http://localhost:LB: Tessera as the page reaches it, through nginx. */
  api: string;
  /** http://localhost:PORT of replica `i`, bypassing nginx. */
  replica(i: number): string;
  /** The SPA's page against `api` (default: through nginx), in a browser context of its own. */
  open(path?: string, api?: string, page?: Page): Promise<Page>;
  newPage(): Promise<Page>;
}

/**
 * Starts the stack before the tests of one describe block and stops it after. `env` adds
 * replica settings; it gets the SPA's origin and the balancer's URL (and may start what
 * those settings point at, e.g. an OpenID Provider whose redirect URI is the balancer's).
 */
export function useSpaCluster(
  name: string,
  options: { replicas?: number; env: (spaUrl: string, api: string) => Record<string, string> | Promise<Record<string, string>> },
): () => SpaCluster {
  let stack: SpaCluster | undefined;
  const cleanup: (() => Promise<unknown>)[] = [];
  const contexts = new Set<BrowserContext>();
  const prefix = uniquePrefix(name);

  beforeAll(async () => {
    const testDb: TestDb = await createTestDb('postgres');
    cleanup.push(() => testDb.drop());
    const keysDir = tempDir(`tessera-${name}-keys-`);
    cleanup.push(async () => fs.rmSync(keysDir, { recursive: true, force: true }));
    cleanup.push(async () => {
      const admin = adminClient();
      await deleteKeys(admin, prefix);
      admin.disconnect();
    });
    const lbPort = await freePort();
    const api = `http://localhost:${lbPort}`;
    const spa = await serveSpa({ apiUrl: api });
    cleanup.push(() => spa.close());
    const cluster = await startCluster({
      databaseUrl: POSTGRES_URL,
      schema: testDb.schema!,
      redisUrl: REDIS_URL,
      redisKeyPrefix: prefix,
      keysDir,
      replicas: options.replicas ?? 3,
      ports: { lb: lbPort },
      resourceService: false,
      logLevel: 'warn',
      env: { ISSUER: api, CORS_ORIGINS: spa.url, APP_URL: spa.url, ...(await options.env(spa.url, api)) },
    });
    cleanup.push(() => cluster.stop());
    const browser = await launchChromium();
    cleanup.push(() => browser.close());
    cleanup.push(() => Promise.all([...contexts].map((c) => c.close())));
    const newPage = async () => {
      const context = await browser.newContext();
      contexts.add(context);
      context.on('close', () => contexts.delete(context));
      context.setDefaultTimeout(UI_TIMEOUT_MS);
      return context.newPage();
    };
    stack = {
      cluster,
      spa,
      browser,
      api,
      replica: (i) => `http://localhost:${cluster.replicas[i]!.port}`,
      newPage,
      async open(path = '/', target = api, existing) {
        const page = existing ?? (await newPage());
        await page.goto(`${spa.url}${path}?api=${encodeURIComponent(target)}`);
        return page;
      },
    };
  }, 180_000);

  afterAll(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
  }, 60_000);

  return () => {
    if (!stack) throw new Error('the SPA cluster did not start');
    return stack;
  };
}
