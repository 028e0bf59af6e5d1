import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { me, signUp } from '../helpers/flows.ts';

describe('smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('registers, logs in and reads /auth/me', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const res = await me(t.fastify, tokens.access_token);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: user.id, email: user.email, created_at: user.created_at, email_verified: false });
  });
});
