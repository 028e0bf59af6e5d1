// Redis connections as the verifier and the server open them: our reconnect policy and
// settings layered over the caller's options, Sentinel options, Redis Cluster, a polite close.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import type { RedisClusterConnection, RedisSentinelConnection, RedisTlsOptions } from './redis-options.js';

/** Where Redis is: a URL, ioredis options (one server or Sentinel), or a Redis Cluster's seed nodes. */
export type RedisTarget = string | RedisOptions | { cluster: RedisClusterConnection };

/** A connection to one server (or a Sentinel-managed primary), or to a whole cluster: the commands Tessera uses are the same. */
export type RedisClient = Redis | Cluster;

export const isClusterTarget = (target: RedisTarget): target is { cluster: RedisClusterConnection } => typeof target === 'object' && 'cluster' in target;

/** Reconnect quickly but without hammering: revocations should flow again soon after Redis is back. */
export const defaultRetryStrategy = (attempt: number): number => Math.min(100 * attempt, 2_000) + Math.floor(Math.random() * 100);

/** Opens a connection (a Cluster for a cluster target) with our settings layered over the caller's options. */
export function openRedis(redis: { cluster: RedisClusterConnection }, overrides: RedisOptions): Cluster;
export function openRedis(redis: string | RedisOptions, overrides: RedisOptions): Redis;
export function openRedis(redis: RedisTarget, overrides: RedisOptions): RedisClient;
export function openRedis(redis: RedisTarget, overrides: RedisOptions): RedisClient {
  if (isClusterTarget(redis)) return openCluster(redis.cluster, overrides);
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
 * A Redis Cluster connection. `overrides` are the per-connection settings the callers give
 * every mode; those that ioredis takes for the whole cluster move there: the offline queue,
 * lazy connect, and the retry strategy (a node connection never reconnects by itself: the
 * cluster refreshes its layout and connects to whichever node owns a slot now).
 */
function openCluster(connection: RedisClusterConnection, overrides: RedisOptions): Cluster {
  const { enableOfflineQueue, lazyConnect, retryStrategy } = overrides;
  const perNode: RedisOptions = { ...overrides };
  for (const name of ['enableOfflineQueue', 'lazyConnect', 'retryStrategy', 'sentinelRetryStrategy'] as const) delete perNode[name];
  const tls = tlsConnectionOptions(connection.tls);
  const options: ClusterOptions = {
    enableOfflineQueue: enableOfflineQueue ?? true,
    lazyConnect: lazyConnect ?? false,
    clusterRetryStrategy: retryStrategy ?? defaultRetryStrategy,
    // After a failover: ask again soon (a replica takes over within cluster-node-timeout plus
    // an election), and learn the new layout at least every second meanwhile.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    slotsRefreshInterval: 1_000,
    // With TLS, connect to the names as given (no DNS look-up first), so the certificate is
    // checked against the name, as managed services (ElastiCache, Memorystore) advise.
    ...(tls !== undefined ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
    redisOptions: clusterNodeOptions(connection, perNode),
  };
  const cluster = new Cluster(
    connection.nodes.map(({ host, port }) => ({ host, port })),
    options,
  );
  cluster.on('error', () => {});
  return cluster;
}

/** The options of one connection to a cluster node: `overrides` plus the cluster's credentials and TLS. */
export function clusterNodeOptions(connection: RedisClusterConnection, overrides: RedisOptions): RedisOptions {
  const tls = tlsConnectionOptions(connection.tls);
  return {
    ...overrides,
    ...(connection.username !== undefined ? { username: connection.username } : {}),
    ...(connection.password !== undefined ? { password: connection.password } : {}),
    ...(tls !== undefined ? { tls } : {}),
  };
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
export async function closeRedis(connection: RedisClient): Promise<void> {
  if (connection.status === 'ready') {
    await connection.quit().catch(() => connection.disconnect());
  } else {
    connection.disconnect();
  }
}
