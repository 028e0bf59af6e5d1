// @ts-check
// An example resource service: it trusts Tessera's access tokens without ever calling
// Tessera on a request. Plain JavaScript that imports only fastify and the published
// @tessera/verifier package, the way a service in another repository would.
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { tesseraAuth } from '@tessera/verifier/fastify';

const env = process.env;
const issuer = env.ISSUER ?? 'http://localhost:3000';
/** @type {import('@tessera/verifier').VerifierOptions} */
const options = {
  issuer,
  audience: env.AUDIENCE ?? 'tessera',
  cache: env.VERIFY_CACHE !== 'false' && env.VERIFY_CACHE !== '0' ? { maxEntries: 10_000 } : false,
  onError: (err) => app.log.warn({ err: err.message }, 'token verifier'),
};
if (env.JWKS_URI) options.jwksUri = env.JWKS_URI;
// Revocations (logout at once): from Tessera's revocation feed over HTTP, or from its Redis
// (a URL, or Tessera's own Sentinel or Redis Cluster variables).
const keyPrefix = env.REDIS_KEY_PREFIX ?? 'tessera:';
if (env.TESSERA_FEED_URL && (env.REDIS_URL || env.REDIS_SENTINELS || env.REDIS_CLUSTER_NODES)) {
  console.error('Set TESSERA_FEED_URL (the revocation feed) or REDIS_URL / REDIS_SENTINELS / REDIS_CLUSTER_NODES (Tessera\'s Redis), not both');
  process.exit(2);
}
/** Tessera's `host:port,host:port` lists (IPv6 as [addr]:port). */
const addresses = (/** @type {string} */ name) =>
  (env[name] ?? '').split(',').map((entry) => {
    const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(entry.trim());
    if (!match) throw new Error(`${name} must be host:port entries, comma-separated`);
    return { host: match[1] ?? '', port: Number(match[2]) };
  });
// TLS as Tessera reads it: REDIS_SENTINEL_TLS defaults to REDIS_TLS, one CA file for both.
const flag = (/** @type {string} */ name) => {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  if (!['true', 'false', '1', '0', 'yes', 'no'].includes(value)) throw new Error(`${name} must be true or false`);
  return ['true', '1', 'yes'].includes(value);
};
// Read once at start: a wrong path stops the service here, not on every reconnect.
const readCa = (/** @type {string} */ file) => {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    // The path is named by its variable only, as Tessera does.
    throw new Error(`REDIS_TLS_CA_FILE cannot be read (${/** @type {NodeJS.ErrnoException} */ (err).code ?? 'error'})`);
  }
};
const trust = () => (env.REDIS_TLS_CA_FILE ? { ca: readCa(env.REDIS_TLS_CA_FILE) } : true);
if (env.TESSERA_FEED_URL) {
  if (!env.TESSERA_FEED_CLIENT_ID || !env.TESSERA_FEED_CLIENT_SECRET) {
    console.error('TESSERA_FEED_URL needs TESSERA_FEED_CLIENT_ID and TESSERA_FEED_CLIENT_SECRET (a client with the revocations permission)');
    process.exit(2);
  }
  options.revocation = { feedUrl: env.TESSERA_FEED_URL, clientId: env.TESSERA_FEED_CLIENT_ID, clientSecret: env.TESSERA_FEED_CLIENT_SECRET };
} else if (env.REDIS_CLUSTER_NODES) {
  /** @type {import('@tessera/verifier').RedisClusterConnection} */
  const redisCluster = { nodes: addresses('REDIS_CLUSTER_NODES') };
  if (env.REDIS_USERNAME) redisCluster.username = env.REDIS_USERNAME;
  if (env.REDIS_PASSWORD) redisCluster.password = env.REDIS_PASSWORD;
  if (flag('REDIS_TLS')) redisCluster.tls = trust();
  options.revocation = { redisCluster, keyPrefix };
} else if (env.REDIS_SENTINELS) {
  /** @type {import('@tessera/verifier').RedisSentinelConnection} */
  const redisSentinel = { sentinels: addresses('REDIS_SENTINELS'), name: env.REDIS_SENTINEL_NAME ?? 'mymaster', db: Number(env.REDIS_DB ?? 0) };
  if (env.REDIS_USERNAME) redisSentinel.username = env.REDIS_USERNAME;
  if (env.REDIS_PASSWORD) redisSentinel.password = env.REDIS_PASSWORD;
  if (env.REDIS_SENTINEL_USERNAME) redisSentinel.sentinelUsername = env.REDIS_SENTINEL_USERNAME;
  if (env.REDIS_SENTINEL_PASSWORD) redisSentinel.sentinelPassword = env.REDIS_SENTINEL_PASSWORD;
  const tls = flag('REDIS_TLS') ?? false;
  const sentinelTls = flag('REDIS_SENTINEL_TLS') ?? tls;
  const trusted = tls || sentinelTls ? trust() : true;
  redisSentinel.tls = tls && trusted;
  redisSentinel.sentinelTls = sentinelTls && trusted;
  options.revocation = { redisSentinel, keyPrefix };
} else if (env.REDIS_URL) {
  options.revocation = { redisUrl: env.REDIS_URL, keyPrefix };
}

const app = Fastify({ logger: { level: env.LOG_LEVEL ?? 'info' } });
await app.register(tesseraAuth, options);

app.get('/healthz', async () => ({ status: 'ok' }));

// Readiness: 503 while revocations may be missing (the feed or Redis is disconnected, or the
// first load has not completed), so a balancer sends traffic to replicas that honour logouts.
app.get('/readyz', async (_request, reply) => {
  const revocation = app.verifier.status();
  return reply.code(revocation === 'ok' ? 200 : 503).send({ status: revocation === 'ok' ? 'ready' : 'not_ready', revocation });
});

app.get('/api/profile', { preHandler: app.requireAuth }, async (request) => {
  const { sub, sid, client_id } = /** @type {import('@tessera/verifier').AccessTokenClaims} */ (request.auth);
  return { sub, sid, client_id, greeting: `Hello, ${sub}! This came from a service that never called Tessera.` };
});

// Moving money wants more than a valid token: a second factor, used within the last five
// minutes. A token that falls short gets 401 with an RFC 9470 step-up challenge
// (WWW-Authenticate: Bearer error="insufficient_user_authentication", …); the client asks
// the user for a code (Tessera's POST /auth/mfa/step-up) and retries with the new token.
app.post('/api/transfers', { preHandler: app.requireAuth({ mfa: true, maxAge: 300 }) }, async (request) => {
  const { sub, amr, auth_time } = /** @type {import('@tessera/verifier').AccessTokenClaims} */ (request.auth);
  return { accepted: true, sub, amr, auth_time };
});

// Only tokens carrying the `admin` role (RFC 9068 roles claim); others get 403 insufficient_scope.
app.get('/api/admin/overview', { preHandler: app.requireAuth({ roles: ['admin'] }) }, async (request) => {
  const { sub, roles } = /** @type {import('@tessera/verifier').AccessTokenClaims} */ (request.auth);
  return { sub, roles };
});

const port = Number(env.PORT ?? 4000);
await app.listen({ port, host: env.HOST ?? '0.0.0.0' });

for (const signal of /** @type {const} */ (['SIGTERM', 'SIGINT'])) {
  process.once(signal, () => {
    // Closing the app also closes the verifier (its feed stream or Redis connections).
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
