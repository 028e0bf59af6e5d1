// The one kind of input our routes would otherwise silently ignore: query strings.
import type { FastifyInstance } from 'fastify';
import { AuthError } from '../errors.ts';

/**
 * No /auth or /oauth endpoint takes query parameters. Refusing them, rather than ignoring
 * them, tells a client that put a password or token in the URL (where proxies and logs keep
 * it, OWASP) that it did something wrong, and leaves no second channel for input.
 */
const PROVIDER_CALLBACK = '/auth/providers/:name/callback';

export function rejectQueryStrings(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if (!request.url.includes('?')) return;
    const route = request.routeOptions.url ?? '';
    if (!route.startsWith('/auth/') && !route.startsWith('/oauth/')) return;
    // A provider's redirect carries code and state in the query (RFC 6749 §4.1.2): the one
    // exception. Request logs describe it without its query string (logger.ts).
    if (route === PROVIDER_CALLBACK) return;
    throw new AuthError('validation_failed', 'query: this endpoint takes no query parameters', {
      errors: [{ field: 'query', message: 'is not accepted; send parameters in the body' }],
    });
  });
}
