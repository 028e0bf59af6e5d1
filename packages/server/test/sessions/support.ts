// Small helpers shared by the session test files (cookies, session lists, durations).
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { hashRefreshToken } from '../../src/sessions/refresh-token.ts';
import type { Db } from '../../src/db/db.ts';
import { bearer } from '../helpers/flows.ts';

export const SECOND = 1000;
export const HOUR = 3600 * SECOND;
export const DAY = 24 * HOUR;

/** Browser-style headers a cookie-authenticated request must carry. */
export const XHR = { 'x-requested-with': 'XMLHttpRequest' };

import type { SessionView } from '../../src/auth-service.ts';

export type { SessionView };

/** Every raw Set-Cookie header of a response. */
export function setCookies(res: LightMyRequestResponse): string[] {
  const raw = res.headers['set-cookie'];
  if (raw === undefined) return [];
  return Array.isArray(raw) ? raw : [raw];
}

/** The single Set-Cookie header for `name`: its value and attributes (lower-cased keys). */
export function cookieNamed(res: LightMyRequestResponse, name: string) {
  const matching = setCookies(res).filter((c) => c.startsWith(`${name}=`));
  expect(matching, `Set-Cookie for ${name}: ${JSON.stringify(setCookies(res))}`).toHaveLength(1);
  const [pair, ...attributes] = matching[0]!.split(';').map((s) => s.trim());
  const attrs = new Map<string, string>();
  for (const attribute of attributes) {
    const eq = attribute.indexOf('=');
    if (eq < 0) attrs.set(attribute.toLowerCase(), '');
    else attrs.set(attribute.slice(0, eq).toLowerCase(), attribute.slice(eq + 1));
  }
  return { value: decodeURIComponent(pair!.slice(name.length + 1)), attrs };
}

export function expectClearedCookie(res: LightMyRequestResponse, name: string) {
  const cookie = cookieNamed(res, name);
  expect(cookie.value).toBe('');
  const expires = cookie.attrs.get('expires');
  const cleared = cookie.attrs.get('max-age') === '0' || (expires !== undefined && Date.parse(expires) <= Date.now());
  expect(cleared, JSON.stringify([...cookie.attrs])).toBe(true);
  // A browser only overwrites (and, for __Host-, only accepts) the cookie with the same attributes.
  expect(cookie.attrs.get('path')).toBe('/');
  expect(cookie.attrs.has('secure')).toBe(true);
  expect(cookie.attrs.has('httponly')).toBe(true);
  expect(cookie.attrs.has('domain')).toBe(false);
}

export async function listSessions(app: FastifyInstance, accessToken: string): Promise<SessionView[]> {
  const res = await app.inject({ method: 'GET', url: '/auth/sessions', headers: bearer(accessToken) });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { sessions: SessionView[] }).sessions;
}

export async function refreshWithCookie(app: FastifyInstance, cookieName: string, token: string, headers: Record<string, string> = XHR) {
  return app.inject({ method: 'POST', url: '/auth/refresh', cookies: { [cookieName]: token }, headers });
}

/** The stored row of a refresh token (looked up by hash, as the service does). */
export async function tokenRow(db: Db, token: string) {
  const rows = await db.query('SELECT * FROM refresh_tokens WHERE token_hash = $1', [hashRefreshToken(token)]);
  return rows[0];
}

export async function sessionRow(db: Db, id: string) {
  const rows = await db.query('SELECT * FROM sessions WHERE id = $1', [id]);
  return rows[0];
}
