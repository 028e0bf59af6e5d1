// PostgreSQL unreachable: SQL-backed routes answer 503 with Retry-After (the client did
// nothing wrong), readiness fails, and nothing answers 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDb } from '../../src/db/postgres.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { expectProblem, PASSWORD } from '../helpers/flows.ts';
import { freePort } from '../helpers/process.ts';

describe('database down', () => {
  let t: TestApp;
  beforeAll(async () => {
    // Nothing listens on this port: every query fails to connect.
    const db = createPostgresDb({ url: `postgres://postgres@127.0.0.1:${await freePort()}/test`, poolSize: 2 });
    t = await createTestApp({ db: { db, openAnother: () => db, drop: () => db.close() } });
  });
  afterAll(async () => {
    await t.close();
    await t.db.close();
  });

  it.each([
    ['/auth/register', { email: 'a@example.com', password: PASSWORD }],
    ['/auth/login', { email: 'a@example.com', password: PASSWORD }],
    ['/auth/refresh', { refresh_token: `rt_${'A'.repeat(43)}` }],
  ])('%s → 503 service_unavailable with Retry-After', async (url, payload) => {
    const res = await t.fastify.inject({ method: 'POST', url, payload });
    expectProblem(res, 503, 'service_unavailable');
    expect(res.headers['retry-after']).toBe('5');
  });

  it('logs why: the cause of every 503, without the connection string', async () => {
    const before = t.logs().length;
    await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: 'a@example.com', password: PASSWORD } });
    await t.fastify.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `grant_type=refresh_token&refresh_token=rt_${'A'.repeat(43)}`,
    });
    const lines = t.logs().slice(before).filter((l) => l.event === 'infrastructure.unavailable');
    expect(lines.map((l) => l.route)).toEqual(['/auth/login', '/oauth/token']);
    for (const line of lines) {
      expect(line.level).toBe(50);
      expect((line.cause as { message: string; code?: string }).code).toContain('ECONNREFUSED');
    }
    expect(t.logText()).not.toContain('postgres://');
  });

  it('fails readiness, naming the database', async () => {
    const res = await t.fastify.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'not_ready', database: 'down' });
  });

  it('still serves the JWKS: other services keep verifying tokens', async () => {
    expect((await t.fastify.inject({ method: 'GET', url: '/.well-known/jwks.json' })).statusCode).toBe(200);
  });
});
