// How the verifier reaches a Redis that is not one URL: Sentinel or a Redis Cluster. The
// option types (the same values as Tessera's variables) and their validation, field by field.
import { bad, nonNegative } from './option-checks.js';

/**
 * A Redis whose primary is managed by Redis Sentinel: the same values as Tessera's
 * `REDIS_SENTINELS`, `REDIS_SENTINEL_NAME`, `REDIS_USERNAME`, `REDIS_PASSWORD`,
 * `REDIS_SENTINEL_USERNAME`, `REDIS_SENTINEL_PASSWORD` and `REDIS_DB`. The verifier asks the sentinels for the current primary on every (re)connect,
 * so it follows a failover and reloads the denylist from the promoted replica.
 */
export interface RedisSentinelConnection {
  /** At least one sentinel; more are learnt from the ones given. */
  sentinels: { host: string; port: number }[];
  /** The master group name. Default `mymaster`. */
  name?: string;
  /** ACL user (Redis 6+) for the primary and replicas; without it `password` is the `default` user's. */
  username?: string;
  /** AUTH for the primary and replicas. */
  password?: string;
  /** ACL user (Redis 6.2+) for the sentinels; without it `sentinelPassword` is the `default` user's. */
  sentinelUsername?: string;
  /** AUTH for the sentinels. */
  sentinelPassword?: string;
  /** Database index. Default 0. */
  db?: number;
  /**
   * TLS to the primary and replicas the sentinels name: `true` trusts Node's root CAs,
   * `{ ca }` trusts that PEM bundle instead. Certificates are always verified. Default off.
   */
  tls?: RedisTlsOptions | boolean;
  /** TLS to the sentinels themselves, same forms as `tls`. Default: the same as `tls`. */
  sentinelTls?: RedisTlsOptions | boolean;
}

/**
 * A Redis Cluster: the same values as Tessera's `REDIS_CLUSTER_NODES`, `REDIS_USERNAME`,
 * `REDIS_PASSWORD`, `REDIS_TLS` and `REDIS_TLS_CA_FILE`. The seed nodes are where the
 * verifier first asks for the cluster's layout; it learns the other nodes, and the new
 * primaries after a failover, from the cluster itself.
 */
export interface RedisClusterConnection {
  /** At least one node of the cluster (any: primary or replica). */
  nodes: { host: string; port: number }[];
  /** ACL user (Redis 6+) on every node; without it `password` is the `default` user's. */
  username?: string;
  /** AUTH on every node. */
  password?: string;
  /** TLS to every node: `true` trusts Node's root CAs, `{ ca }` that PEM bundle. Certificates are always verified. Default off. */
  tls?: RedisTlsOptions | boolean;
}

/** What a Sentinel-mode TLS connection trusts; there is deliberately no way to skip verification. */
export interface RedisTlsOptions {
  /** PEM CA certificate(s) to trust instead of Node's root CAs. */
  ca?: string;
}

export function validateSentinel(value: RedisSentinelConnection): void {
  if (typeof value !== 'object' || value === null) bad('revocation.redisSentinel', '{ sentinels, name?, username?, password?, sentinelUsername?, sentinelPassword?, db?, tls?, sentinelTls? }');
  const { sentinels, name, username, password, sentinelUsername, sentinelPassword, db, tls, sentinelTls } = value;
  if (!Array.isArray(sentinels) || sentinels.length === 0 || !sentinels.every(isAddress)) {
    bad('revocation.redisSentinel.sentinels', 'a non-empty array of { host, port }');
  }
  for (const [key, v] of Object.entries({ name, username, password, sentinelUsername, sentinelPassword })) {
    if (v !== undefined && (typeof v !== 'string' || v.length === 0)) bad(`revocation.redisSentinel.${key}`, 'a non-empty string');
  }
  // An ACL user logs in with its password: ioredis would send AUTH with the username alone.
  if (username !== undefined && password === undefined) bad('revocation.redisSentinel.password', 'given with username');
  if (sentinelUsername !== undefined && sentinelPassword === undefined) bad('revocation.redisSentinel.sentinelPassword', 'given with sentinelUsername');
  if (db !== undefined) nonNegative(db, 'revocation.redisSentinel.db', 0, true);
  for (const [key, v] of Object.entries({ tls, sentinelTls })) {
    if (v !== undefined && !isTlsSetting(v)) bad(`revocation.redisSentinel.${key}`, 'true, false or { ca } (a PEM string); certificate checks cannot be turned off');
  }
}

export function validateCluster(value: RedisClusterConnection, keyPrefix: unknown): void {
  if (typeof value !== 'object' || value === null) bad('revocation.redisCluster', '{ nodes, username?, password?, tls? }');
  const { nodes, username, password, tls, ...rest } = value;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw new TypeError(`createVerifier: unknown option "revocation.redisCluster.${unknown}"`);
  if (!Array.isArray(nodes) || nodes.length === 0 || !nodes.every(isAddress)) bad('revocation.redisCluster.nodes', 'a non-empty array of { host, port }');
  for (const [key, v] of Object.entries({ username, password })) {
    if (v !== undefined && (typeof v !== 'string' || v.length === 0)) bad(`revocation.redisCluster.${key}`, 'a non-empty string');
  }
  if (username !== undefined && password === undefined) bad('revocation.redisCluster.password', 'given with username');
  if (tls !== undefined && !isTlsSetting(tls)) bad('revocation.redisCluster.tls', 'true, false or { ca } (a PEM string); certificate checks cannot be turned off');
  // A brace in the prefix would move the keys' hash tag (revocation-model.ts): Tessera refuses it too.
  if (typeof keyPrefix === 'string' && /[{}]/.test(keyPrefix)) bad('revocation.keyPrefix', 'a prefix without { or } with redisCluster');
}

function isAddress(s: unknown): boolean {
  const { host, port } = (s ?? {}) as { host?: unknown; port?: unknown };
  return typeof host === 'string' && host.length > 0 && typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536;
}

/** `{ rejectUnauthorized: false }` and other Node TLS options are refused, not silently dropped. */
function isTlsSetting(v: unknown): boolean {
  if (typeof v === 'boolean') return true;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const { ca, ...rest } = v as { ca?: unknown };
  return Object.keys(rest).length === 0 && (ca === undefined || (typeof ca === 'string' && ca.length > 0));
}
