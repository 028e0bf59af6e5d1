// Resident memory of the compiled server, idle, run as deploy/Dockerfile runs it (issue 23;
// docs/operate/deployment.md, "Memory"): the embedded default ≤ 250 MiB after its first start
// (initdb included) and a few sign-ups; a replica on PostgreSQL + Redis ≤ 100 MiB after start
// and ≤ 120 MiB after five sign-ups. And a default start loads none of the libraries that
// only some configurations or requests use.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/app.ts';
import { createTestDb, urlWithSchema, type TestDb } from '../helpers/db.ts';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { startProcess, type TesseraProcess } from '../helpers/process.ts';

const MiB = 1024 * 1024;
/** What the image sets. */
const IMAGE_ENV = { MALLOC_MMAP_THRESHOLD_: '131072', NODE_OPTIONS: '--max-semi-space-size=2' };
const IDLE_MS = 10_000;

const rss = (pid: number) => Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

async function signUps(base: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const email = uniqueEmail('footprint');
    const body = JSON.stringify({ email, password: PASSWORD });
    const headers = { 'content-type': 'application/json' };
    expect((await fetch(`${base}/auth/register`, { method: 'POST', headers, body })).status).toBe(201);
    expect((await fetch(`${base}/auth/login`, { method: 'POST', headers, body })).status).toBe(200);
  }
}

/** Starts the server with `env`, runs `work`, idles, answers its VmRSS; always stops it. */
async function idleRss(env: Record<string, string>, work: (base: string) => Promise<void>): Promise<number> {
  let server: TesseraProcess | undefined;
  try {
    server = await startProcess({ env: { ...IMAGE_ENV, ARGON2_MEMORY_KIB: '19456', ...env }, readyPath: '/readyz', readyTimeoutMs: 150_000 });
    await work(server.url);
    await sleep(IDLE_MS);
    return rss(server.pid!);
  } finally {
    await server?.stop('SIGKILL');
  }
}

describe('resident memory, idle', () => {
  it('the embedded default: ≤ 250 MiB after its first start (initdb) and three sign-ups', async () => {
    const root = tempDir('tessera-footprint-');
    const env = { DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys') };
    const bytes = await idleRss(env, (base) => signUps(base, 3));
    expect(bytes / MiB).toBeLessThanOrEqual(250);
  }, 240_000);

  describe('a replica on PostgreSQL and Redis', () => {
    let testDb: TestDb;
    let env: Record<string, string>;
    beforeAll(async () => {
      testDb = await createTestDb('postgres');
      env = {
        DATABASE_URL: urlWithSchema(testDb.schema!),
        REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
        REDIS_KEY_PREFIX: `footprint-${testDb.schema}:`,
        KEYS_DIR: tempDir('tessera-footprint-keys-'),
      };
    });
    afterAll(() => testDb.drop());

    it('≤ 100 MiB after start, ≤ 120 MiB after five sign-ups', async () => {
      expect((await idleRss(env, async () => {})) / MiB).toBeLessThanOrEqual(100);
      expect((await idleRss(env, (base) => signUps(base, 5))) / MiB).toBeLessThanOrEqual(120);
    }, 120_000);

    it('loads no library its configuration does not use until a request needs it', async () => {
      // A module-load hook (its own thread: this start is not one that is measured) lists
      // every package module the server loads.
      const log = path.join(tempDir('tessera-footprint-log-'), 'modules.txt');
      const hooks = `import fs from 'node:fs'; export async function load(url, context, next) { if (url.includes('/node_modules/')) fs.appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, context); }`;
      const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
      const lazy = ['@electric-sql/pglite', 'nodemailer', '@simplewebauthn/server', 'otpauth', 'openid-client', 'jose', '@fastify/swagger', '@fastify/swagger-ui'];
      const loaded = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '');
      const server = await startProcess({ env, nodeArgs: ['--import', `data:text/javascript,${encodeURIComponent(register)}`], readyPath: '/readyz', readyTimeoutMs: 60_000 });
      try {
        expect(loaded()).toContain('/node_modules/fastify/');
        for (const name of lazy) expect(loaded(), name).not.toContain(`/node_modules/${name}/`);
        // The first request that needs one loads it, and is served.
        const docs = await fetch(`${server.url}/docs/`);
        expect(docs.status).toBe(200);
        expect(await docs.text()).toMatch(/<html/i);
        expect(loaded()).toContain('/node_modules/@fastify/swagger-ui/');
      } finally {
        await server.stop('SIGKILL');
      }
    }, 90_000);
  });
});
