// The per-request log lines: the path without its query string (a token in a URL never
// reaches the log), and health probes at debug, not info.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';

const SECRET = `eyJhbGciOiJSUzI1NiJ9.secret-in-a-query-${Date.now()}`;

describe('request log lines', () => {
  let info: TestApp;
  let debug: TestApp;
  beforeAll(async () => {
    info = await createTestApp({ db: 'pglite' });
    debug = await createTestApp({ db: info.testDb, logLevel: 'debug', keysDir: info.config.keysDir });
  });
  afterAll(async () => {
    await debug.fastify.close();
    await info.close();
  });

  it('never contain a query string: a token put in a URL is refused and not logged', async () => {
    for (const url of [`/auth/me?access_token=${SECRET}`, `/oauth/token?refresh_token=${SECRET}&grant_type=refresh_token`, `/nowhere?token=${SECRET}`]) {
      const res = await info.fastify.inject({ method: url.startsWith('/oauth') ? 'POST' : 'GET', url });
      expect(res.statusCode).toBeGreaterThanOrEqual(400);
      expect(res.body).not.toContain(SECRET);
    }
    expect(info.logText()).not.toContain(SECRET);
    const incoming = info.logs().filter((l) => l.msg === 'incoming request').map((l) => (l.req as { url: string }).url);
    expect(incoming).toEqual(expect.arrayContaining(['/auth/me', '/oauth/token', '/nowhere']));
  });

  it('log health probes at debug: nothing at info', async () => {
    const before = info.logs().length;
    for (let i = 0; i < 3; i++) {
      expect((await info.fastify.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      expect((await info.fastify.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    }
    expect(info.logs().slice(before)).toEqual([]);

    await debug.fastify.inject({ method: 'GET', url: '/healthz' });
    const probes = debug.logs().filter((l) => (l.req as { url?: string } | undefined)?.url === '/healthz' || l.msg === 'request completed');
    expect(probes.length).toBeGreaterThanOrEqual(2);
    for (const line of probes) expect(line.level).toBe(20);
  });

  it('other requests keep their info lines', async () => {
    const before = info.logs().length;
    await info.fastify.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    const lines = info.logs().slice(before);
    expect(lines.map((l) => l.msg)).toEqual(['incoming request', 'request completed']);
    expect(lines.every((l) => l.level === 30)).toBe(true);
  });
});
