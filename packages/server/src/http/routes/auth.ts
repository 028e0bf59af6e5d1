import type { FastifyInstance } from 'fastify';
import { AuthError } from '../../errors.ts';
import { authenticate } from '../authenticate.ts';
import { claimsOf, requestContext } from '../context.ts';
import { clearRefreshCookie, csrfGuard, readRefreshCookie } from '../refresh-cookie.ts';
import type { RouteDeps } from '../services.ts';
import { noStore, sendLoginResult, sendTokens } from '../token-response.ts';
import { loginBody, logoutBody, parseWith, passwordChangeBody, refreshBody, registerBody } from '../validation.ts';

export async function authRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { auth, config } = deps;
  const requireBearer = authenticate(deps.verifyBearer);
  const checkCsrf = csrfGuard(config);

  app.post('/auth/register', async (request, reply) => {
    const body = parseWith(registerBody, request.body);
    const user = await auth.register(body.email, body.password, requestContext(request));
    return reply.code(201).send(user);
  });

  app.post('/auth/login', async (request, reply) => {
    const body = parseWith(loginBody, request.body);
    return sendLoginResult(reply, config, await auth.login(body, requestContext(request)), body.token_delivery);
  });

  app.post('/auth/refresh', { onRequest: checkCsrf }, async (request, reply) => {
    const cookie = readRefreshCookie(request, config);
    // A token in the body wins: mobile and server clients; the cookie is the browser's.
    const fromBody = request.body === undefined ? undefined : parseWith(refreshBody, request.body).refresh_token;
    const token = fromBody ?? cookie;
    if (token === undefined) throw new AuthError('invalid_grant', 'No refresh token in the body or cookie');
    try {
      const pair = await auth.refresh(token, requestContext(request));
      return sendTokens(reply, config, pair, fromBody === undefined ? 'cookie' : 'body');
    } catch (err) {
      // A cookie that can never work again is removed, so the browser stops sending it.
      if (fromBody === undefined && err instanceof AuthError && err.status === 401) clearRefreshCookie(reply, config);
      throw err;
    }
  });

  app.post('/auth/logout', { onRequest: checkCsrf }, async (request, reply) => {
    const ctx = requestContext(request);
    const bodyToken = request.body === undefined ? undefined : parseWith(logoutBody, request.body).refresh_token;
    const token = bodyToken ?? readRefreshCookie(request, config);
    if (token !== undefined) {
      // A reused token is refused like at refresh; the cookie is dead either way.
      await auth.logoutWithRefreshToken(token, ctx).catch((err: unknown) => {
        clearRefreshCookie(reply, config);
        throw err;
      });
    } else if (request.headers.authorization !== undefined) {
      await requireBearer(request);
      await auth.logoutWithAccessToken(claimsOf(request), ctx);
    } else {
      throw new AuthError('invalid_grant', 'Send a refresh token (body or cookie) or a bearer access token');
    }
    clearRefreshCookie(reply, config);
    return noStore(reply).code(204).send();
  });

  app.post('/auth/logout-all', { preHandler: requireBearer }, async (request, reply) => {
    await auth.logoutAll(claimsOf(request), requestContext(request));
    clearRefreshCookie(reply, config);
    return reply.code(204).send();
  });

  app.get('/auth/me', { preHandler: requireBearer }, async (request, reply) => {
    return noStore(reply).send(await auth.me(claimsOf(request)));
  });

  app.post('/auth/password', { preHandler: requireBearer }, async (request, reply) => {
    const body = parseWith(passwordChangeBody, request.body);
    const pair = await auth.changePassword(claimsOf(request), body.current_password, body.new_password, requestContext(request));
    // The old session is dead; with cookie delivery the new cookie replaces it.
    if (body.token_delivery === 'body') clearRefreshCookie(reply, config);
    return sendTokens(reply, config, pair, body.token_delivery);
  });
}
