// Redis connections as the verifier and the server open them: our reconnect policy and
// settings layered over the caller's options, Sentinel options, a polite close.
import { Redis, type RedisOptions } from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import type { RedisSentinelConnection, RedisTlsOptions } from './options.js';

/** Reconnect quickly but without hammering: revocations should flow again soon after Redis is back. */
export const defaultRetryStrategy = (attempt: number): number => Math.min(100 * attempt, 2_000) + Math.floor(Math.random() * 100);

/** Opens a connection with our settings layered over the caller's options. */
export function openRedis(redis: string | RedisOptions, overrides: RedisOptions): Redis {
  const base: RedisOptions = typeof redis === 'string' ? {} : { ...redis };
  // A client-side prefix would be applied to MGET/EVAL keys but not to SCAN results.
  delete base.keyPrefix;
  const options: RedisOptions = { retryStrategy: defaultRetryStrategy, ...base, ...overrides };
  const connection = typeof redis === 'string' ? new Redis(redis, options) : new Redis(options);
  // Without a listener ioredis prints every failed reconnect; status() reports outages instead.
  connection.on('error', () => {});
  return connection;
}

/**
 * ioredis options for a Sentinel-managed Redis (what `revocation: { redisSentinel }` uses).
 * Passing ioredis' own `{ sentinels, name, … }` as `redis` works too; this adds a reconnect
 * when a command meets a demoted primary (READONLY), so the sentinels name the new one.
 */
export function sentinelRedisOptions(connection: RedisSentinelConnection): RedisOptions {
  const tls = tlsConnectionOptions(connection.tls);
  const sentinelTls = connection.sentinelTls === undefined ? tls : tlsConnectionOptions(connection.sentinelTls);
  return {
    sentinels: connection.sentinels.map(({ host, port }) => ({ host, port })),
    name: connection.name ?? 'mymaster',
    db: connection.db ?? 0,
    // ioredis sends AUTH <username> <password> when a username is given, AUTH <password> otherwise.
    ...(connection.username !== undefined ? { username: connection.username } : {}),
    ...(connection.password !== undefined ? { password: connection.password } : {}),
    ...(connection.sentinelUsername !== undefined ? { sentinelUsername: connection.sentinelUsername } : {}),
    ...(connection.sentinelPassword !== undefined ? { sentinelPassword: connection.sentinelPassword } : {}),
    // In Sentinel mode ioredis uses `tls` for the data nodes only together with
    // enableTLSForSentinelMode (SentinelConnector); the sentinels take `sentinelTLS`.
    ...(tls !== undefined ? { tls, enableTLSForSentinelMode: true } : {}),
    ...(sentinelTls !== undefined ? { sentinelTLS: sentinelTls } : {}),
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
}

/** Node TLS options for one side of a Sentinel connection; undefined: plain TCP. Only `ca` is copied, so nothing can turn verification off. */
function tlsConnectionOptions(tls: RedisTlsOptions | boolean | undefined): ConnectionOptions | undefined {
  if (tls === undefined || tls === false) return undefined;
  return tls === true || tls.ca === undefined ? {} : { ca: tls.ca };
}

/** Closes politely when possible, at once otherwise (quit would wait for a reconnect). */
export async function closeRedis(connection: Redis): Promise<void> {
  if (connection.status === 'ready') {
    await connection.quit().catch(() => connection.disconnect());
  } else {
    connection.disconnect();
  }
}
