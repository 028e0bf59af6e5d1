// Wiring: every service built from its dependencies, every route registered; never listens.
// docs/architecture.md is the map of the layers this file joins and of one request's path.
import crypto from 'node:crypto';
import cookie from '@fastify/cookie';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { RedisClient } from '@tessera/verifier/internal';
import { AdminService } from './admin/admin-service.ts';
import { createClientAuthenticator } from './clients/client-auth.ts';
import { createRecovery } from './account/recovery.ts';
import { AuthService } from './auth-service.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { Db } from './db/db.ts';
import { registerProblemHandlers, writeClientError } from './http/problem.ts';
import { registerRateLimits } from './http/rate-limit.ts';
import { accountRoutes } from './http/routes/account.ts';
import { TesseraLogController } from './http/request-log.ts';
import { authRoutes } from './http/routes/auth.ts';
import { docsRoutes } from './http/routes/docs.ts';
import { adminRoutes } from './http/routes/admin.ts';
import { healthRoutes } from './http/routes/health.ts';
import { mfaRoutes } from './http/routes/mfa.ts';
import { oauthRoutes } from './http/routes/oauth.ts';
import { providerRoutes } from './http/routes/providers.ts';
import { revocationRoutes } from './http/routes/revocations.ts';
import { FeedStreams } from './revocation/feed-streams.ts';
import { sessionRoutes } from './http/routes/sessions.ts';
import { wellKnownRoutes } from './http/routes/well-known.ts';
import { frameworkErrors, MAX_HEADER_SIZE, registerSecurity } from './http/security.ts';
import type { RouteDeps } from './http/services.ts';
import type { KeyStore } from './keys/key-store.ts';
import type { OutboxDrainer } from './mail/outbox-drainer.ts';
import type { Logger } from './logger.ts';
import { instrumentRequests, metricsRoutes } from './metrics/http.ts';
import { AppMetrics } from './metrics/metrics.ts';
import { MfaFlows } from './mfa/mfa-flows.ts';
import { MfaService } from './mfa/mfa-service.ts';
import { openSecretBox, type SecretBox } from './mfa/secret-box.ts';
import { OAuthService } from './oauth/oauth-service.ts';
import { PasskeyAssertions } from './passkeys/passkey-assertions.ts';
import { PasskeyService } from './passkeys/passkey-service.ts';
import { passkeyStore } from './passkeys/passkey-store.ts';
import { RelyingParty } from './passkeys/relying-party.ts';
import { passkeyRoutes } from './http/routes/passkeys.ts';
import { IdentityService } from './providers/identity-service.ts';
import { IdentityLinker } from './providers/linking.ts';
import { ProviderMetrics } from './providers/provider-metrics.ts';
import { ProviderSignIn } from './providers/provider-sign-in.ts';
import { ProviderRegistry } from './providers/registry.ts';
import type { Denylist } from './revocation/denylist.ts';
import { SessionService, sessionLifetimes } from './sessions/session-service.ts';
import { createLoginThrottle } from './throttle/login-throttle.ts';
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
  /** The entry point passes one with process metrics; otherwise the app makes its own. */
  metrics?: AppMetrics;
  /** Shared rate-limit counters across replicas (REDIS_URL); in-process memory without it. */
  redis?: RedisClient;
  /** Seals TOTP secrets; by default from MFA_ENCRYPTION_KEY or the key file in KEYS_DIR. */
  secretBox?: SecretBox;
}

export interface App {
  fastify: FastifyInstance;
  auth: AuthService;
  /** Fails readiness so the load balancer stops sending new requests (graceful shutdown). */
  startDraining(): void;
  /** Every route registered, as Fastify saw it; the OpenAPI drift test compares it with openapi.yaml. */
  routes: readonly AppRoute[];
  /** This app's registry; the entry point serves it on METRICS_PORT when that is set. */
  metrics: AppMetrics;
  /** The mail outbox drainer: not running until start() (the entry point starts it); stopped on close. */
  mail: OutboxDrainer;
}

export interface AppRoute {
  method: string;
  url: string;
}

/** Wires services and routes. Never listens: the entry point or a test does. */
export async function buildApp(config: Config, deps: AppDeps): Promise<App> {
  const { db, keys, clock, logger } = deps;
  const metrics = deps.metrics ?? new AppMetrics();
  metrics.observe({ denylist: deps.denylist, keys, clock });
  const denylist = metrics.countRevocations(deps.denylist);
  const users = new UserService(db, new PasswordHasher(config.argon2), clock);
  const sessions = new SessionService(db, clock, sessionLifetimes(config), {
    refreshesPerMinute: config.rateLimit.enabled ? config.rateLimit.refreshSessionPerMinute : undefined,
  });
  const issueAccessToken = createAccessTokenIssuer(keys, clock, {
    issuer: config.issuer,
    audience: config.audience,
    ttlSeconds: config.accessTokenTtl,
    acr: config.acr,
  });
  const throttle = createLoginThrottle(config, { redis: deps.redis, clock, logger });
  const mfa = new MfaService({ db, clock, box: deps.secretBox ?? (await secretBoxFor(config, logger)), totpIssuer: config.totpIssuer });
  const accessTokens = new AccessTokenVerifier(keys, denylist, clock, {
    issuer: config.issuer,
    audience: config.audience,
    accessTokenTtl: config.accessTokenTtl,
  });
  const recovery = createRecovery(config, { db, clock, logger, registry: metrics.registry, ...(deps.redis ? { redis: deps.redis } : {}) });
  const auth = new AuthService({
    users,
    sessions,
    issueAccessToken,
    denylist,
    clock,
    logger,
    clientId: config.clientId,
    accessTokenTtl: config.accessTokenTtl,
    metrics,
    throttle,
    mfa,
    emailVerification: recovery.verificationHooks,
  });
  const { account, email } = recovery.services({ users, sessions, auth, mfa });
  const rp = new RelyingParty(config.webauthn);
  const assertions = new PasskeyAssertions({ db, clock, rp, store: passkeyStore, auth, metrics });
  const passkeys = new PasskeyService({ db, clock, rp, store: passkeyStore, assertions, sessions, auth, metrics });
  const mfaFlows = new MfaFlows({
    passkeys: { db, store: passkeyStore, assertions },
    auth,
    mfa,
    users,
    sessions,
    issueAccessToken,
    clock,
    metrics,
    recoveryCodeNotice: recovery.recoveryCodeNotice,
    mfaLockedNotice: recovery.mfaLockedNotice,
    ...(throttle ? { throttle } : {}),
  });
  const admin = new AdminService({ db, auth, clock, account, passkeys });
  const authenticateAdmin = createClientAuthenticator({
    realm: 'admin',
    budget: 'admin',
    clients: config.adminClients,
    throttle,
    audit: (fields, ctx) => auth.audit('client.auth_failed', { user_id: null, realm: 'admin', ...fields }, ctx),
  });
  // The feed's clients are INTROSPECTION_CLIENTS, checked like admin clients (audit), with the
  // back-off budget of /oauth/*: the same secrets, whichever route they are tried on.
  const authenticateFeedClient = createClientAuthenticator({
    realm: 'revocations',
    budget: 'introspection',
    clients: (id) => config.introspectionClients.get(id)?.secret,
    throttle,
    audit: (fields, ctx) => auth.audit('client.auth_failed', { user_id: null, realm: 'revocations', ...fields }, ctx),
  });
  const authenticateOAuthClient = createClientAuthenticator({
    realm: 'oauth',
    budget: 'introspection',
    clients: (id) => config.introspectionClients.get(id)?.secret,
    throttle,
    audit: (fields, ctx) => auth.audit('client.auth_failed', { user_id: null, realm: 'oauth', ...fields }, ctx),
  });
  const feedStreams = new FeedStreams(config.revocationFeedMaxStreamsPerClient, (clientId) => metrics.feedStreamsRefused.inc({ client_id: clientId }));
  metrics.observeFeed(feedStreams);
  // Social sign-in: openid-client is only imported when PROVIDERS names an OIDC provider.
  const providerMetrics = new ProviderMetrics(metrics.registry, config.providers.map((p) => p.name));
  const providerSignIn = new ProviderSignIn({
    db,
    clock,
    registry: config.providers.length > 0 ? await ProviderRegistry.create(config.providers, clock) : ProviderRegistry.empty(),
    linker: new IdentityLinker(db, clock),
    auth,
    sessions,
    mfa,
    metrics: providerMetrics,
    issuer: config.issuer,
    allowlist: config.redirectAllowlist,
  });
  const identities = new IdentityService({ db, clock, auth, metrics: providerMetrics });
  const oauth = new OAuthService({ auth, sessions, accessTokens, denylist, clock, issuer: config.issuer });

  const fastify: FastifyInstance = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Health probes at debug; requests described without their query string (logger.ts).
    logController: new TesseraLogController(),
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    // Bound what a client can make us hold: headers, URL, time to send them.
    routerOptions: { maxParamLength: 200 },
    requestTimeout: 30_000,
    http: { maxHeaderSize: MAX_HEADER_SIZE },
    frameworkErrors,
    clientErrorHandler: writeClientError,
    // Never trust a request id from outside: it ends up in logs.
    genReqId: () => crypto.randomUUID(),
  });
  // Only JSON on the REST routes: a text/plain body is a 415, not something to guess at.
  fastify.removeContentTypeParser('text/plain');
  registerProblemHandlers(fastify);
  instrumentRequests(fastify, metrics);
  const stopObservingLag = denylist.observeMirrorLag?.((lagMs) => metrics.mirrorLag.observe(Math.max(0, lagMs) / 1000));
  fastify.addHook('onClose', async () => stopObservingLag?.());

  const routes: AppRoute[] = [];
  fastify.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });

  await fastify.register(cookie);
  await registerSecurity(fastify, config);
  // Before the routes: it attaches per-IP limits to them as they are declared.
  await registerRateLimits(fastify, config, deps.redis);
  fastify.addHook('onClose', async () => throttle?.close());
  fastify.addHook('onClose', async () => recovery.close());

  let draining = false;
  // While draining, every answer closes its keep-alive connection, so the load balancer
  // does not keep an idle connection that fastify.close() would cut while a request is on its way.
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) reply.header('connection', 'close');
    done(null, payload);
  });
  const routeDeps: RouteDeps = { config, auth, verifyBearer: accessTokens.verify, keys, db, denylist };
  await fastify.register(authRoutes, routeDeps);
  await fastify.register(sessionRoutes, routeDeps);
  await fastify.register(accountRoutes, { ...routeDeps, account, email });
  await fastify.register(mfaRoutes, { ...routeDeps, mfaFlows });
  await fastify.register(passkeyRoutes, { ...routeDeps, passkeys });
  await fastify.register(adminRoutes, { ...routeDeps, admin, authenticateAdmin });
  await fastify.register(providerRoutes, { ...routeDeps, providerSignIn, identities });
  await fastify.register(oauthRoutes, { ...routeDeps, oauth, authenticateOAuthClient });
  await fastify.register(revocationRoutes, { ...routeDeps, authenticateFeedClient, streams: feedStreams });
  // Open streams never end by themselves: close() would wait on them forever.
  fastify.addHook('preClose', async () => feedStreams.endAll());
  await fastify.register(wellKnownRoutes, routeDeps);
  await fastify.register(healthRoutes, { ...routeDeps, isDraining: () => draining });
  await fastify.register(docsRoutes);
  if (config.metricsPort === undefined) await fastify.register(metricsRoutes, { metrics });

  return {
    fastify,
    auth,
    routes,
    metrics,
    mail: recovery.drainer,
    startDraining() {
      draining = true;
      // Feed clients reconnect (with their cursor) to a replica that is not leaving.
      feedStreams.endAll();
    },
  };
}

/** The TOTP-secret key; says so in the log when it had to be generated (embedded default). */
async function secretBoxFor(config: Config, logger: Logger): Promise<SecretBox> {
  const { box, generated } = await openSecretBox(config);
  if (generated) logger.info({ event: 'key.generated', kid: box.keyId, use: 'mfa-encryption', dir: config.keysDir }, 'generated the MFA encryption key');
  return box;
}
