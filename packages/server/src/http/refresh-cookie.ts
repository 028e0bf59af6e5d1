// Browser delivery of the refresh token: an HttpOnly cookie the page's script never sees,
// plus the CSRF rules that make a cookie-authenticated request safe.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { AuthError } from '../errors.ts';

/** Custom header a cookie-authenticated request must carry: it forces a CORS preflight. */
export const CSRF_HEADER = 'x-requested-with';

export function refreshCookieName(config: Pick<Config, 'issuer' | 'cookieName'>): string {
  // __Host- pins the cookie to this exact host, Secure and Path=/ (no subdomain can set it).
  return config.issuer.startsWith('https:') ? `__Host-${config.cookieName}` : config.cookieName;
}

export function setRefreshCookie(
  reply: FastifyReply,
  config: Pick<Config, 'issuer' | 'cookieName'>,
  token: string,
  options: { remember: boolean; maxAgeSeconds: number },
): void {
  reply.setCookie(refreshCookieName(config), token, {
    httpOnly: true,
    secure: true,
    sameSite: 'strict',
    path: '/',
    // remember: false → a browser-session cookie, gone when the browser closes.
    ...(options.remember ? { maxAge: options.maxAgeSeconds } : {}),
  });
}

export function clearRefreshCookie(reply: FastifyReply, config: Pick<Config, 'issuer' | 'cookieName'>): void {
  reply.clearCookie(refreshCookieName(config), { httpOnly: true, secure: true, sameSite: 'strict', path: '/' });
}

export function readRefreshCookie(request: FastifyRequest, config: Pick<Config, 'issuer' | 'cookieName'>): string | undefined {
  const value = request.cookies[refreshCookieName(config)];
  return value === undefined || value === '' ? undefined : value;
}

function isJson(request: FastifyRequest): boolean {
  return /^application\/json\b/i.test(request.headers['content-type'] ?? '');
}

/**
 * onRequest guard for routes a cookie can authenticate (refresh, logout). It runs before
 * the body is read, so a cross-site HTML form is refused here with 403 whatever it sends.
 *
 * Only a request that cannot use the cookie may skip it: one that carries no cookie and
 * either a JSON body (its own refresh token) or an Authorization header (a bearer logout).
 * A request that carries the cookie is checked whatever else it carries: a browser attaches
 * cached Basic or Negotiate credentials to cross-site requests as readily as the cookie.
 */
export function csrfGuard(config: Pick<Config, 'issuer' | 'cookieName' | 'corsOrigins'>) {
  const selfOrigin = new URL(config.issuer).origin;
  return async function checkCsrf(request: FastifyRequest): Promise<void> {
    const hasCookie = readRefreshCookie(request, config) !== undefined;
    if (!hasCookie && (isJson(request) || request.headers.authorization !== undefined)) return;
    if (!request.headers[CSRF_HEADER]) {
      throw new AuthError('csrf_rejected', `Cookie-authenticated requests must carry the ${CSRF_HEADER} header`);
    }
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== selfOrigin && !config.corsOrigins.includes(origin)) {
      throw new AuthError('csrf_rejected', 'Origin is not allowed');
    }
  };
}
