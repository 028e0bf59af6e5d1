// Per-client-IP request limits on the routes an attacker would hammer: password guessing
// (login, password change) and registration (the one answer that tells an email exists).
// @fastify/rate-limit counts in Redis when there is one, so every replica enforces one
// shared budget; in memory otherwise. The client IP is `request.ip`, which honours
// X-Forwarded-For only when TRUST_PROXY says so. Refresh is limited differently: failures
// per IP and rotations per session (refresh-failures.ts).
import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RedisClient } from '@tessera/verifier/internal';
import type { Config } from '../config.ts';
import { basicCredentials } from '../clients/client-auth.ts';
import { AuthError } from '../errors.ts';
import { registerRefreshFailureLimit } from './refresh-failures.ts';

/** Which limit applies to which route: the policy in one place. */
export function routeLimits(config: Config): Record<string, RateLimitOptions> {
  // `cache` bounds the in-memory counters per route when many addresses (or IPv6 /64s) take
  // part; Redis expires its own keys.
  const perMinute = (max: number) => ({ max, timeWindow: 60_000, cache: 10_000 });
  const credentials = perMinute(config.rateLimit.ipPerMinute);
  // Resource servers call these for their users: one budget per client and address, so one
  // noisy client (or a guesser behind a shared address) does not starve the others.
  const perClient = {
    ...perMinute(config.rateLimit.clientPerMinute),
    keyGenerator: (request: FastifyRequest) => `${basicCredentials(request.headers.authorization)?.id ?? '-'}|${request.ip}`,
  };
  return {
    'POST /oauth/introspect': perClient,
    'POST /oauth/revoke': perClient,
    'POST /auth/login': credentials,
    'POST /auth/register': credentials,
    'POST /auth/password': credentials,
    // Account recovery: mail senders (also throttled per address and per account) and the
    // routes that take a mailed secret or the password again.
    'POST /auth/password/forgot': credentials,
    'POST /auth/password/reset': credentials,
    'POST /auth/email/verify': credentials,
    'POST /auth/email/verify/resend': credentials,
    'POST /auth/email/change': credentials,
    'POST /auth/email/change/confirm': credentials,
    'DELETE /auth/account': credentials,
    // Second-factor codes: the per-account back-off is the real bound; this one is per address.
    'POST /auth/mfa/verify': credentials,
    'POST /auth/mfa/webauthn/options': credentials,
    'POST /auth/passkeys/login/options': credentials,
    'POST /auth/passkeys/login': credentials,
    'POST /auth/passkeys/register/options': credentials,
    'POST /auth/passkeys/register': credentials,
    'POST /auth/mfa/step-up': credentials,
    'POST /auth/mfa/totp/enroll': credentials,
    'POST /auth/mfa/totp/confirm': credentials,
    'DELETE /auth/mfa/totp': credentials,
  };
}

/** Must run before the routes are registered: it attaches the limits as they are declared. */
export async function registerRateLimits(app: FastifyInstance, config: Config, redis: RedisClient | undefined): Promise<void> {
  if (!config.rateLimit.enabled) return;
  registerRefreshFailureLimit(app, config, redis);
  const limits = routeLimits(config);
  // Runs before @fastify/rate-limit's own onRoute hook (registered just below), which reads
  // `config.rateLimit` to attach a limiter with a counter of its own per route.
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      const limit = limits[`${method} ${route.url}`];
      if (limit) route.config = { ...route.config, rateLimit: limit };
    }
  });
  await app.register(rateLimit, {
    global: false,
    ...(redis ? { redis, nameSpace: `${config.redisKeyPrefix}ratelimit:` } : {}),
    // Redis down: let requests through rather than fail them all (argon2 still bounds guessing).
    skipOnError: true,
    errorResponseBuilder: (_request, context) => {
      const retryAfter = Math.max(1, Math.ceil(context.ttl / 1000));
      // Thrown into the route's error handler: problem+json on /auth/*, RFC 6749 on /oauth/*.
      return new AuthError('rate_limited', `Too many requests from this address; retry in ${retryAfter} s`, { retry_after: retryAfter });
    },
  });
}
