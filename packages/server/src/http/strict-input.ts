// The one kind of input our routes would otherwise silently ignore: query strings.
import type { FastifyInstance } from 'fastify';
import { AuthError } from '../errors.ts';

/**
 * The routes whose input is the query string by protocol: a provider's authorization
 * response comes back as a redirect, `?code=…&state=…` (RFC 6749 §4.1.2).
 */
const QUERY_ROUTES = new Set(['/auth/providers/:name/callback']);

/**
 * No other /auth or /oauth endpoint takes query parameters. Refusing them, rather than ignoring
 * them, tells a client that put a password or token in the URL (where proxies and logs keep
 * it, OWASP) that it did something wrong, and leaves no second channel for input.
 */
export function rejectQueryStrings(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if (!request.url.includes('?')) return;
    const route = request.routeOptions.url ?? '';
    if (!route.startsWith('/auth/') && !route.startsWith('/oauth/')) return;
    if (QUERY_ROUTES.has(route) && request.method === 'GET') return;
    throw new AuthError('validation_failed', 'query: this endpoint takes no query parameters', {
      errors: [{ field: 'query', message: 'is not accepted; send parameters in the body' }],
    });
  });
}
