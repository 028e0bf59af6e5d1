// Driving a social sign-in against Acme (helpers/acme.ts) and a test app.
import crypto from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { Browser } from './acme.ts';

/** Tessera's public URL in these tests: nothing listens there; the browser stops at it. */
export const TESSERA = 'http://tessera.test';
export const APP = 'http://localhost:8080';
export const callbackUri = (name = 'acme') => `${TESSERA}/auth/providers/${name}/callback`;

export function pkce() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
}

export async function start(app: FastifyInstance, options: { name?: string; redirectTo?: string; challenge?: string; headers?: Record<string, string> } = {}) {
  return app.inject({
    method: 'POST',
    url: `/auth/providers/${options.name ?? 'acme'}/start`,
    headers: options.headers ?? {},
    payload: { redirect_to: options.redirectTo ?? `${APP}/signed-in`, code_challenge: options.challenge ?? pkce().challenge, code_challenge_method: 'S256' },
  });
}

/** start → provider → the callback URL the provider sends the browser to (not yet followed). */
export async function toCallback(app: FastifyInstance, options: { name?: string; headers?: Record<string, string> } = {}) {
  const codes = pkce();
  const res = await start(app, { ...options, challenge: codes.challenge });
  expect(res.statusCode, res.body).toBe(200);
  const callback = await new Browser().followUntil(res.json<{ authorization_url: string }>().authorization_url, TESSERA);
  return { callback, ...codes };
}

export async function callback(app: FastifyInstance, url: URL): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url: url.pathname + url.search });
}

/** The whole redirect flow; returns where Tessera sent the browser, and the verifier. */
export async function signInFlow(app: FastifyInstance, options: { name?: string; headers?: Record<string, string> } = {}) {
  const { callback: url, verifier } = await toCallback(app, options);
  const res = await callback(app, url);
  expect(res.statusCode, res.body).toBe(302);
  return { location: new URL(res.headers.location as string), verifier, callbackUrl: url };
}

export async function redeem(app: FastifyInstance, code: string, verifier: string, extra: Record<string, unknown> = {}) {
  return app.inject({ method: 'POST', url: '/auth/providers/token', payload: { code, code_verifier: verifier, ...extra } });
}

/** Signs in through the provider and answers the token response (asserting success). */
export async function socialTokens(app: FastifyInstance, options: { name?: string } = {}) {
  const { location, verifier } = await signInFlow(app, options);
  const code = location.searchParams.get('code');
  expect(code, location.href).toBeTruthy();
  const res = await redeem(app, code!, verifier);
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ access_token: string; refresh_token: string }>();
}
