import crypto from 'node:crypto';
import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { AuthService } from './auth-service.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { Db } from './db/db.ts';
import { registerProblemHandlers } from './http/problem.ts';
import { CSRF_HEADER } from './http/refresh-cookie.ts';
import { authRoutes } from './http/routes/auth.ts';
import { docsRoutes } from './http/routes/docs.ts';
import { healthRoutes } from './http/routes/health.ts';
import { oauthRoutes } from './http/routes/oauth.ts';
import { sessionRoutes } from './http/routes/sessions.ts';
import { wellKnownRoutes } from './http/routes/well-known.ts';
import type { RouteDeps } from './http/services.ts';
import type { KeyStore } from './keys/key-store.ts';
import type { Logger } from './logger.ts';
import { OAuthService } from './oauth/oauth-service.ts';
import type { Denylist } from './revocation/denylist.ts';
import { SessionService } from './sessions/session-service.ts';
import { createAccessTokenIssuer } from './tokens/access-token.ts';
import { AccessTokenVerifier } from './tokens/bearer.ts';
import { PasswordHasher } from './users/password.ts';
import { UserService } from './users/user-service.ts';

export interface AppDeps {
  db: Db;
  keys: KeyStore;
  denylist: Denylist;
  clock: Clock;
  logger: Logger;
}

export interface App {
  fastify: FastifyInstance;
  auth: AuthService;
  /** Fails readiness so the load balancer stops sending new requests (graceful shutdown). */
  startDraining(): void;
  /** Every route registered, as Fastify saw it; the OpenAPI drift test compares it with openapi.yaml. */
  routes: readonly AppRoute[];
}

export interface AppRoute {
  method: string;
  url: string;
}

/** Wires services and routes. Never listens: the entry point or a test does. */
export async function buildApp(config: Config, deps: AppDeps): Promise<App> {
  const { db, keys, denylist, clock, logger } = deps;
  const users = new UserService(db, new PasswordHasher(config.argon2), clock, logger);
  const sessions = new SessionService(db, clock, {
    idleSeconds: config.refreshIdleTtl,
    absoluteSeconds: config.refreshAbsoluteTtl,
    shortSeconds: config.refreshShortTtl,
    graceSeconds: config.refreshGracePeriod,
  });
  const issueAccessToken = createAccessTokenIssuer(keys, clock, {
    issuer: config.issuer,
    audience: config.audience,
    ttlSeconds: config.accessTokenTtl,
  });
  const accessTokens = new AccessTokenVerifier(keys, denylist, clock, { issuer: config.issuer, audience: config.audience });
  const auth = new AuthService({
    users,
    sessions,
    issueAccessToken,
    denylist,
    clock,
    logger,
    clientId: config.clientId,
    accessTokenTtl: config.accessTokenTtl,
  });
  const oauth = new OAuthService({ auth, sessions, accessTokens, denylist, clock, issuer: config.issuer });

  const fastify: FastifyInstance = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    // Bound what a client can make us hold: headers, URL, time to send them.
    routerOptions: { maxParamLength: 200 },
    requestTimeout: 30_000,
    // Never trust a request id from outside: it ends up in logs.
    genReqId: () => crypto.randomUUID(),
  });
  // Only JSON on the REST routes: a text/plain body is a 415, not something to guess at.
  fastify.removeContentTypeParser('text/plain');
  registerProblemHandlers(fastify);

  const routes: AppRoute[] = [];
  fastify.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });

  await fastify.register(cookie);
  await fastify.register(cors, {
    origin: config.corsOrigins,
    credentials: true,
    methods: ['GET', 'POST', 'DELETE'],
    allowedHeaders: ['content-type', 'authorization', CSRF_HEADER],
    maxAge: 600,
  });

  let draining = false;
  const routeDeps: RouteDeps = { config, auth, verifyBearer: accessTokens.verify, keys, db, denylist };
  await fastify.register(authRoutes, routeDeps);
  await fastify.register(sessionRoutes, routeDeps);
  await fastify.register(oauthRoutes, { ...routeDeps, oauth });
  await fastify.register(wellKnownRoutes, routeDeps);
  await fastify.register(healthRoutes, { ...routeDeps, isDraining: () => draining });
  await fastify.register(docsRoutes);

  return {
    fastify,
    auth,
    routes,
    startDraining() {
      draining = true;
    },
  };
}
