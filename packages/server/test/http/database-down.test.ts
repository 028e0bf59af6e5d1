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

  it('fails readiness, naming the database', async () => {
    const res = await t.fastify.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'not_ready', database: 'down' });
  });

  it('still serves the JWKS: other services keep verifying tokens', async () => {
    expect((await t.fastify.inject({ method: 'GET', url: '/.well-known/jwks.json' })).statusCode).toBe(200);
  });
});
