import crypto from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';

export const PASSWORD = 'correct horse battery staple';

export interface Tokens {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  refresh_token_expires_in: number;
}

export const uniqueEmail = (tag = 'user') => `${tag}-${crypto.randomBytes(5).toString('hex')}@example.com`;

export async function register(app: FastifyInstance, email = uniqueEmail(), password = PASSWORD) {
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { email, password } });
  expect(res.statusCode, res.body).toBe(201);
  return { ...(res.json() as { id: string; email: string; created_at: string }), password };
}

export async function login(app: FastifyInstance, email: string, password = PASSWORD, extra: Record<string, unknown> = {}) {
  const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { email, password, ...extra } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Tokens;
}

/** Registers a fresh user and logs in with body delivery. */
export async function signUp(app: FastifyInstance, extra: Record<string, unknown> = {}) {
  const user = await register(app);
  const tokens = await login(app, user.email, PASSWORD, extra);
  return { user, tokens };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export async function refresh(app: FastifyInstance, refreshToken: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: refreshToken } });
}

export async function me(app: FastifyInstance, accessToken: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) });
}

export function expectProblem(res: LightMyRequestResponse, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json() as { code: string; status: number; type: string; title: string; detail: string };
  expect(body.code).toBe(code);
  expect(body.status).toBe(status);
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  return body;
}

export function decodeJwt(token: string) {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>,
  };
}
