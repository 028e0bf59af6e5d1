// Every environment variable Tessera reads, in one schema, and the one function that maps it to
// the Config the app uses: the Config type is derived from that function, so a setting is
// declared once (issue 20). The table of variables in docs/operate/configuration.md is written
// from this file; keep them in step (readme.test.ts checks).
import path from 'node:path';
import { z } from 'zod';
import { clientListSchema, resourceClientListSchema } from './clients/client-list.ts';
import { mfaKeySchema } from './mfa/secret-box.ts';
import { checkKeysDir, webauthnRelyingParty, withoutCredentials } from './config-checks.ts';
import { boolean, derivedIssuer, isSecretVariable, optionalBoolean, origins, seconds, trustProxy, url, webauthnOrigins } from './config-fields.ts';
import { parseProviders } from './providers/provider-config.ts';
import { parseRedirectAllowlist } from './providers/redirect-allowlist.ts';
import { clusterNodeList, redisConfigFrom, sentinelList } from './redis-connection.ts';

export const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  // Unset: /metrics is served on PORT. Set: on this port only (same HOST), e.g. kept off the public network.
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  // Unset: derived from HOST and PORT (derivedIssuer), so discovery never points elsewhere.
  ISSUER: url(['http:', 'https:'])
    .transform((v) => v.replace(/\/+$/, ''))
    .optional(),
  AUDIENCE: z.string().min(1).default('tessera'),
  CLIENT_ID: z.string().min(1).default('tessera'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TRUST_PROXY: trustProxy,

  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  DATA_DIR: z.string().min(1).default('./data'),
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  // Sentinel instead of REDIS_URL (docs/operate/sentinel.md); all three ways checked together in redisConfigFrom.
  REDIS_SENTINELS: sentinelList.optional(),
  // A Redis Cluster instead (docs/operate/redis-cluster.md): seed nodes, host:port,…
  REDIS_CLUSTER_NODES: clusterNodeList.optional(),
  REDIS_SENTINEL_NAME: z.string().min(1).max(200).optional(),
  REDIS_USERNAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  REDIS_SENTINEL_USERNAME: z.string().min(1).optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  REDIS_DB: z.coerce.number().int().min(0).max(1_000_000).optional(),
  REDIS_TLS: optionalBoolean,
  REDIS_SENTINEL_TLS: optionalBoolean,
  REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  REDIS_KEY_PREFIX: z.string().default('tessera:'),
  // How long logout/password change waits for Redis before answering 503 (the revocation is then retried in the background).
  REVOCATION_WRITE_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(2000),

  KEYS_DIR: z.string().min(1).default('./keys'),
  JWT_ALG: z.enum(['RS256']).default('RS256'),
  KEY_SIZE: z.coerce.number().int().refine((n) => [2048, 3072, 4096].includes(n), {
    message: 'must be 2048, 3072 or 4096',
  }).default(2048),
  JWKS_MAX_AGE: seconds(300),
  // How often every replica re-reads KEYS_DIR, so a rotation reaches it without a restart.
  KEYS_RELOAD_INTERVAL: seconds(10),

  ACCESS_TOKEN_TTL: seconds(900),
  REFRESH_IDLE_TTL: seconds(7 * 24 * 3600),
  REFRESH_ABSOLUTE_TTL: seconds(30 * 24 * 3600),
  REFRESH_SHORT_TTL: seconds(24 * 3600),
  REFRESH_GRACE_PERIOD: z.coerce.number().int().min(0).default(10),

  // Data lifecycle (docs/operate/data-retention.md): dead sessions and rotated-token hashes are
  // kept this long (reuse detection, audit), then purged by every replica's timer.
  SESSION_RETENTION: z.coerce.number().int().min(3600).default(30 * 24 * 3600),
  // Seconds between purge runs on each replica (one runs at a time); 0 turns the timer off.
  SESSION_PURGE_INTERVAL: z.coerce.number().int().min(0).max(24 * 3600).default(60),

  ARGON2_MEMORY_KIB: z.coerce.number().int().min(19456).default(19456),
  ARGON2_TIME_COST: z.coerce.number().int().min(2).default(2),
  ARGON2_PARALLELISM: z.coerce.number().int().min(1).max(16).default(1),

  BODY_LIMIT: z.coerce.number().int().min(1024).max(1024 * 1024).default(16 * 1024),
  CORS_ORIGINS: origins,
  COOKIE_NAME: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').default('tessera_refresh'),
  // Resource servers: `id:secret[:introspect+revocations]` (/oauth/introspect and /oauth/revoke, the revocation feed).
  INTROSPECTION_CLIENTS: resourceClientListSchema,
  REVOCATION_FEED_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).max(3600).default(15),
  REVOCATION_FEED_MAX_STREAMS_PER_CLIENT: z.coerce.number().int().min(1).max(100_000).default(16),

  // Second factor, authentication levels and the admin API.
  MFA_ENCRYPTION_KEY: mfaKeySchema,
  TOTP_ISSUER: z.string().min(1).max(100).regex(/^[^:]+$/, 'must not contain ":"').default('Tessera'),
  ACR_PASSWORD: z.string().min(1).max(200).optional(),
  ACR_MFA: z.string().min(1).max(200).optional(),
  ADMIN_CLIENTS: clientListSchema,

  // SIGTERM drain (docs/operate/deployment.md, "Restarts without losing requests"), all bounded by SHUTDOWN_TIMEOUT_MS.
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  SHUTDOWN_DELAY_MS: z.coerce.number().int().min(0).max(600_000).default(0),
  SHUTDOWN_LINGER_MS: z.coerce.number().int().min(0).max(600_000).default(5_000),

  // Abuse resistance (see docs/security.md). Counters live in Redis when REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES is set.
  RATE_LIMIT_ENABLED: boolean(true),
  RATE_LIMIT_IP_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(30),
  RATE_LIMIT_REFRESH_IP_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(300),
  RATE_LIMIT_REFRESH_SESSION_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(30),
  RATE_LIMIT_CLIENT_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(6000),
  LOGIN_FAILURES_BEFORE_BACKOFF: z.coerce.number().int().min(1).max(1000).default(5),
  LOGIN_BACKOFF_MAX_SECONDS: z.coerce.number().int().min(1).max(24 * 3600).default(900),

  // Mail and account recovery (docs/integrate/account-recovery.md, docs/operate/mail.md). No SMTP_URL: .eml files in MAIL_DIR.
  SMTP_URL: url(['smtp:', 'smtps:']).optional(),
  MAIL_FROM: z
    .string()
    .regex(/^[^\r\n]*[^\s<>@]+@[^\s<>@]+>?$/, 'must be an address, optionally with a name: Name <addr@example.com>')
    .default('Tessera <no-reply@localhost>'),
  MAIL_DIR: z.string().min(1).default('./data/mail'),
  MAIL_TEMPLATES_DIR: z.string().min(1).optional(),
  // The app that handles the links we mail (reset, verify, confirm); the secret goes in the fragment.
  APP_URL: url(['http:', 'https:'])
    .default('http://localhost:8080')
    .transform((v) => v.replace(/\/+$/, '')),
  PASSWORD_RESET_TTL: seconds(1800),
  EMAIL_VERIFICATION_TTL: seconds(24 * 3600),
  REQUIRE_VERIFIED_EMAIL: boolean(false),

  // Passkeys (docs/integrate/passkeys.md). Unset: the host and the origin of APP_URL.
  WEBAUTHN_RP_ID: z
    .string()
    .max(253)
    .regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, 'must be a lower-case domain name (no scheme, port or path)')
    .optional(),
  WEBAUTHN_RP_NAME: z.string().min(1).max(100).default('Tessera'),
  WEBAUTHN_ORIGINS: webauthnOrigins,
  // Social sign-in (docs/operate/providers.md). The PROVIDER_<NAME>_* family has dynamic
  // names: providers/provider-config.ts reads it. Both are checked there.
  PROVIDERS: z.string().optional(),
  REDIRECT_ALLOWLIST: z.string().optional(),
});

export type Env = z.input<typeof envSchema>;
type Parsed = z.output<typeof envSchema>;

/** What loadConfig works out beyond one variable each (cross-checked, or read from dynamic names). */
interface Checked {
  redis: ReturnType<typeof redisConfigFrom>;
  webauthn: NonNullable<ReturnType<typeof webauthnRelyingParty>>;
  providers: ReturnType<typeof parseProviders>;
  redirectAllowlist: ReturnType<typeof parseRedirectAllowlist>;
}

/** The one mapping from variables to the Config shape; its return type is `Config`. */
function toConfig(e: Parsed, checked: Checked) {
  return {
    port: e.PORT,
    host: e.HOST,
    /** Where /metrics listens on its own; undefined: on the main port. */
    metricsPort: e.METRICS_PORT,
    issuer: e.ISSUER ?? derivedIssuer(e.HOST, e.PORT),
    /** True when ISSUER was not set and `issuer` was derived from HOST and PORT. */
    issuerDerived: e.ISSUER === undefined,
    audience: e.AUDIENCE,
    clientId: e.CLIENT_ID,
    logLevel: e.LOG_LEVEL,
    /** Fastify's trustProxy: which X-Forwarded-For hops to believe (false: none, true: all, or these proxies). */
    trustProxy: e.TRUST_PROXY,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    dataDir: path.resolve(e.DATA_DIR),
    /** REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES (with their credentials); undefined: no Redis, in-process state. */
    redis: checked.redis,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    revocationWriteTimeoutMs: e.REVOCATION_WRITE_TIMEOUT_MS,
    keysDir: path.resolve(e.KEYS_DIR),
    keySize: e.KEY_SIZE,
    jwksMaxAge: e.JWKS_MAX_AGE,
    keysReloadInterval: e.KEYS_RELOAD_INTERVAL,
    accessTokenTtl: e.ACCESS_TOKEN_TTL,
    refreshIdleTtl: e.REFRESH_IDLE_TTL,
    refreshAbsoluteTtl: e.REFRESH_ABSOLUTE_TTL,
    refreshShortTtl: e.REFRESH_SHORT_TTL,
    refreshGracePeriod: e.REFRESH_GRACE_PERIOD,
    /** SESSION_RETENTION, seconds. */
    sessionRetention: e.SESSION_RETENTION,
    /** SESSION_PURGE_INTERVAL, seconds; 0: no timer. */
    sessionPurgeInterval: e.SESSION_PURGE_INTERVAL,
    argon2: { memoryCost: e.ARGON2_MEMORY_KIB, timeCost: e.ARGON2_TIME_COST, parallelism: e.ARGON2_PARALLELISM },
    bodyLimit: e.BODY_LIMIT,
    corsOrigins: e.CORS_ORIGINS,
    cookieName: e.COOKIE_NAME,
    /** Resource-server clients and what each may call. */
    introspectionClients: e.INTROSPECTION_CLIENTS,
    /** Seconds between `: keep-alive` comments on an idle /revocations/stream. */
    revocationFeedHeartbeatSeconds: e.REVOCATION_FEED_HEARTBEAT_SECONDS,
    /** Open /revocations/stream connections one client may hold on one replica; 429 `too_many_streams` beyond. */
    revocationFeedMaxStreamsPerClient: e.REVOCATION_FEED_MAX_STREAMS_PER_CLIENT,
    /** AES-256-GCM key for TOTP secrets; undefined: the generated file in keysDir. */
    mfaEncryptionKey: e.MFA_ENCRYPTION_KEY,
    /** The `issuer` an authenticator app shows next to the account. */
    totpIssuer: e.TOTP_ISSUER,
    /** The `acr` claim per authentication level; a level left undefined puts no acr in tokens. */
    acr: { password: e.ACR_PASSWORD, mfa: e.ACR_MFA },
    /** Admin API clients (HTTP Basic); empty: the admin API answers 404. */
    adminClients: e.ADMIN_CLIENTS,
    /** The WebAuthn relying party: its id (a domain), the name authenticators show, the origins ceremonies may come from. */
    webauthn: checked.webauthn,
    shutdown: { timeoutMs: e.SHUTDOWN_TIMEOUT_MS, delayMs: e.SHUTDOWN_DELAY_MS, lingerMs: e.SHUTDOWN_LINGER_MS },
    rateLimit: {
      enabled: e.RATE_LIMIT_ENABLED,
      /** Requests per minute per client IP on login, register and password change (each route counted apart). */
      ipPerMinute: e.RATE_LIMIT_IP_PER_MINUTE,
      /** Failed refreshes per minute per client IP on /auth/refresh and /oauth/token (successes are not counted). */
      refreshIpPerMinute: e.RATE_LIMIT_REFRESH_IP_PER_MINUTE,
      /** Refreshes (rotations) per minute per session: a client stuck in a loop. */
      refreshSessionPerMinute: e.RATE_LIMIT_REFRESH_SESSION_PER_MINUTE,
      /** Requests per minute per (client, IP) on /oauth/introspect and /oauth/revoke (each route counted apart). */
      clientPerMinute: e.RATE_LIMIT_CLIENT_PER_MINUTE,
      /** Consecutive failures for one (account, IP) pair before back-off starts; 4× this for the account from anywhere. */
      failuresBeforeBackoff: e.LOGIN_FAILURES_BEFORE_BACKOFF,
      /** The longest back-off window, seconds: an attacker can delay the real user by at most this much. */
      backoffMaxSeconds: e.LOGIN_BACKOFF_MAX_SECONDS,
    },
    mail: {
      /** smtp:// or smtps:// (nodemailer); undefined: write .eml files to `dir`. */
      smtpUrl: e.SMTP_URL,
      from: e.MAIL_FROM,
      dir: path.resolve(e.MAIL_DIR),
      /** Operator templates that replace the built-in ones, file by file. */
      templatesDir: e.MAIL_TEMPLATES_DIR === undefined ? undefined : path.resolve(e.MAIL_TEMPLATES_DIR),
      /** Base URL of the app that handles mailed links. */
      appUrl: e.APP_URL,
    },
    recovery: {
      /** Seconds a password-reset link works. */
      passwordResetTtl: e.PASSWORD_RESET_TTL,
      /** Seconds an email-verification or email-change link works. */
      emailVerificationTtl: e.EMAIL_VERIFICATION_TTL,
      /** Refuse password logins (403 email_not_verified) until the address is verified. */
      requireVerifiedEmail: e.REQUIRE_VERIFIED_EMAIL,
    },
    /** PROVIDERS with their PROVIDER_<NAME>_* settings; empty: social sign-in is off. */
    providers: checked.providers,
    /** REDIRECT_ALLOWLIST: where a provider sign-in may return the browser (or app). */
    redirectAllowlist: checked.redirectAllowlist,
  };
}

export type Config = ReturnType<typeof toConfig>;
// Parts other modules take on their own (a service needs its slice, not the whole Config).
export type WebauthnConfig = Config['webauthn'];
export type MailConfig = Config['mail'];
export type RecoveryConfig = Config['recovery'];
export type RateLimitConfig = Config['rateLimit'];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws one ConfigError that lists every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "unset" so `FOO= npm start` behaves like leaving it out.
  const cleaned = Object.fromEntries(
    Object.keys(envSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]),
  );
  const result = envSchema.safeParse(cleaned);
  const problems: string[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) {
      const name = String(issue.path[0] ?? '?');
      problems.push(isSecretVariable(name) ? `${name}: ${issue.message}` : `${name}=${JSON.stringify(withoutCredentials(cleaned[name] ?? ''))}: ${issue.message}`);
    }
  }
  // Checked even when other variables are bad, so one run lists every problem.
  const keysDir = cleaned.KEYS_DIR ?? './keys';
  const keysProblem = checkKeysDir(keysDir);
  if (keysProblem) problems.push(`KEYS_DIR=${JSON.stringify(keysDir)}: ${keysProblem}`);
  const redis = result.success ? redisConfigFrom(result.data, problems) : undefined;
  const webauthn = result.success ? webauthnRelyingParty(result.data, problems) : undefined;
  const providers = parseProviders(env, problems);
  const redirectAllowlist = result.success ? parseRedirectAllowlist(result.data.REDIRECT_ALLOWLIST, result.data.APP_URL, problems) : [];
  if (problems.length > 0 || !result.success || !webauthn) throw new ConfigError(problems);
  return toConfig(result.data, { redis, webauthn, providers, redirectAllowlist });
}

/** Builds a Config for tests and tools: defaults, then overrides. */
export function configFrom(env: Record<string, string | undefined>, overrides: Partial<Config> = {}): Config {
  return { ...loadConfig(env), ...overrides };
}
