// Where Redis is and how to log in to it: one Redis server (REDIS_URL), a Sentinel-managed
// primary (REDIS_SENTINELS) or a Redis Cluster (REDIS_CLUSTER_NODES). Every Redis connection
// the server opens (denylist writer and mirror, rate limits, login and recovery throttling)
// takes its target from redisConnection(), so each of them follows a failover the same way.
import fs from 'node:fs';
import net from 'node:net';
import { z } from 'zod';
import { sentinelRedisOptions } from '@tessera/verifier/redis';
import type { RedisTarget } from '@tessera/verifier/internal';

export interface SentinelAddress {
  host: string;
  port: number;
}

export type RedisConfig =
  /** One Redis server; `url` carries the database index and, if any, the credentials. */
  | { mode: 'direct'; url: string }
  | {
      mode: 'sentinel';
      sentinels: SentinelAddress[];
      /** The master group name the sentinels monitor (REDIS_SENTINEL_NAME). */
      name: string;
      /** ACL user for the primary and replicas (REDIS_USERNAME); undefined: the `default` user. */
      username: string | undefined;
      /** AUTH for the primary and replicas (REDIS_PASSWORD). */
      password: string | undefined;
      /** ACL user for the sentinels themselves (REDIS_SENTINEL_USERNAME); undefined: the `default` user. */
      sentinelUsername: string | undefined;
      /** AUTH for the sentinels themselves (REDIS_SENTINEL_PASSWORD). */
      sentinelPassword: string | undefined;
      db: number;
      /** TLS to the primary and replicas (REDIS_TLS). */
      tls: boolean;
      /** TLS to the sentinels (REDIS_SENTINEL_TLS, default REDIS_TLS). */
      sentinelTls: boolean;
      /** The PEM bundle read from REDIS_TLS_CA_FILE at start; undefined: Node's root CAs. */
      ca: string | undefined;
    }
  | {
      mode: 'cluster';
      /** Seed nodes (REDIS_CLUSTER_NODES); the others are learnt from the cluster. */
      nodes: SentinelAddress[];
      username: string | undefined;
      password: string | undefined;
      /** TLS to every node (REDIS_TLS), trusting `ca` (REDIS_TLS_CA_FILE) or Node's root CAs. */
      tls: boolean;
      ca: string | undefined;
    };

export const DEFAULT_SENTINEL_NAME = 'mymaster';

/** `host:port` entries, comma-separated; an IPv6 host goes in brackets (`[::1]:26379`). */
const addressList = (what: string) =>
  z.string().transform((v, ctx): SentinelAddress[] => {
    const list: SentinelAddress[] = [];
    for (const entry of v.split(',').map((s) => s.trim()).filter(Boolean)) {
      const match = /^(?:\[([^\]]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(entry);
      const host = match?.[1] ?? match?.[2];
      const port = Number(match?.[3]);
      if (!host || (match?.[1] !== undefined && !net.isIPv6(host)) || port < 1 || port > 65535) {
        // The entry is not echoed: the variable is treated as one that may hold a secret.
        ctx.addIssue({ code: 'custom', message: 'each entry must be host:port (IPv6 as [address]:port), comma-separated' });
        return z.NEVER;
      }
      list.push({ host, port });
    }
    if (list.length === 0) {
      ctx.addIssue({ code: 'custom', message: `must list at least one ${what} as host:port` });
      return z.NEVER;
    }
    return list;
  });

export const sentinelList = addressList('sentinel');
export const clusterNodeList = addressList('cluster node');

export interface RedisEnv {
  REDIS_URL?: string | undefined;
  REDIS_SENTINELS?: SentinelAddress[] | undefined;
  REDIS_CLUSTER_NODES?: SentinelAddress[] | undefined;
  REDIS_KEY_PREFIX?: string | undefined;
  REDIS_SENTINEL_NAME?: string | undefined;
  REDIS_USERNAME?: string | undefined;
  REDIS_PASSWORD?: string | undefined;
  REDIS_SENTINEL_USERNAME?: string | undefined;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
  REDIS_DB?: number | undefined;
  REDIS_TLS?: boolean | undefined;
  REDIS_SENTINEL_TLS?: boolean | undefined;
  REDIS_TLS_CA_FILE?: string | undefined;
}

/**
 * REDIS_URL and REDIS_SENTINELS exclude each other: with Sentinel the primary's address is
 * whatever the sentinels say, so a URL's host would be a second, contradicting answer. A
 * variable that only means something in the other mode is refused rather than ignored.
 * An ACL user (REDIS_USERNAME, REDIS_SENTINEL_USERNAME) needs its password: ioredis would
 * send AUTH with a username alone, which no Redis accepts. Problems name the variable, never
 * a value (user names and passwords).
 */
export function redisConfigFrom(e: RedisEnv, problems: string[]): RedisConfig | undefined {
  const onlyWithSentinels = (name: keyof RedisEnv, hint: string) => {
    if (e[name] !== undefined) problems.push(`${name}: only used with REDIS_SENTINELS${hint}`);
  };
  const userNeedsPassword = (user: 'REDIS_USERNAME' | 'REDIS_SENTINEL_USERNAME', password: string, hasPassword: boolean) => {
    if (e[user] === undefined || hasPassword) return true;
    problems.push(`${user}: an ACL user logs in with a password; set ${password} too`);
    return false;
  };
  if (e.REDIS_CLUSTER_NODES) return clusterConfigFrom(e, e.REDIS_CLUSTER_NODES, problems, userNeedsPassword);
  if (e.REDIS_SENTINELS) {
    if (e.REDIS_URL !== undefined) {
      problems.push('REDIS_SENTINELS: set either REDIS_URL (one Redis server) or REDIS_SENTINELS (Sentinel), not both; with Sentinel use REDIS_USERNAME, REDIS_PASSWORD and REDIS_DB');
      return undefined;
    }
    const dataUser = userNeedsPassword('REDIS_USERNAME', 'REDIS_PASSWORD', e.REDIS_PASSWORD !== undefined);
    const sentinelUser = userNeedsPassword('REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD', e.REDIS_SENTINEL_PASSWORD !== undefined);
    if (!dataUser || !sentinelUser) return undefined;
    const tls = e.REDIS_TLS ?? false;
    const sentinelTls = e.REDIS_SENTINEL_TLS ?? tls;
    const ca = caBundleFrom(e.REDIS_TLS_CA_FILE, tls || sentinelTls, problems);
    if (ca === null) return undefined;
    return {
      mode: 'sentinel',
      sentinels: e.REDIS_SENTINELS,
      name: e.REDIS_SENTINEL_NAME ?? DEFAULT_SENTINEL_NAME,
      username: e.REDIS_USERNAME,
      password: e.REDIS_PASSWORD,
      sentinelUsername: e.REDIS_SENTINEL_USERNAME,
      sentinelPassword: e.REDIS_SENTINEL_PASSWORD,
      db: e.REDIS_DB ?? 0,
      tls,
      sentinelTls,
      ca,
    };
  }
  onlyWithSentinels('REDIS_SENTINEL_NAME', '');
  onlyWithSentinels('REDIS_SENTINEL_USERNAME', '');
  onlyWithSentinels('REDIS_SENTINEL_PASSWORD', '');
  onlyWithSentinels('REDIS_DB', '; with REDIS_URL give the database in its path (redis://host:6379/2)');
  for (const name of ['REDIS_TLS', 'REDIS_SENTINEL_TLS', 'REDIS_TLS_CA_FILE'] as const) {
    onlyWithSentinels(name, ' or REDIS_CLUSTER_NODES; with REDIS_URL, TLS is the rediss:// scheme');
  }
  if (e.REDIS_URL === undefined) {
    for (const name of ['REDIS_USERNAME', 'REDIS_PASSWORD'] as const) {
      if (e[name] !== undefined) problems.push(`${name}: set REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES too (there is no Redis to log in to)`);
    }
    return undefined;
  }
  const url = new URL(e.REDIS_URL);
  // ioredis decodeURIComponent()s both; the URL setters alone would leave a '%' as it is.
  const credentials = [
    ['REDIS_USERNAME', 'username', 'a user name'],
    ['REDIS_PASSWORD', 'password', 'a password'],
  ] as const;
  for (const [name, part, what] of credentials) {
    const value = e[name];
    if (value === undefined) continue;
    if (url[part] !== '') {
      problems.push(`${name}: REDIS_URL holds ${what} too; give it in one place`);
      return undefined;
    }
    url[part] = encodeURIComponent(value);
  }
  if (!userNeedsPassword('REDIS_USERNAME', 'REDIS_PASSWORD (or the password in REDIS_URL)', url.password !== '')) return undefined;
  return { mode: 'direct', url: url.toString() };
}

/**
 * REDIS_CLUSTER_NODES excludes the two other ways to say where Redis is (a cluster's nodes
 * are whatever the cluster says), takes the credentials and TLS of the data nodes as with
 * Sentinel, and refuses what a cluster does not have: a database index (only 0) and the
 * sentinels' own variables. A brace in REDIS_KEY_PREFIX would take the place of the hash tags
 * Tessera puts in its keys (revocation-model.ts, login-throttle.ts) and split what one script
 * must find in one slot.
 */
function clusterConfigFrom(
  e: RedisEnv,
  nodes: SentinelAddress[],
  problems: string[],
  userNeedsPassword: (user: 'REDIS_USERNAME', password: string, hasPassword: boolean) => boolean,
): RedisConfig | undefined {
  const others = (['REDIS_URL', 'REDIS_SENTINELS'] as const).filter((name) => e[name] !== undefined);
  if (others.length > 0) {
    problems.push(
      `REDIS_CLUSTER_NODES: set one of REDIS_URL (one Redis server), REDIS_SENTINELS (Sentinel) or REDIS_CLUSTER_NODES (Redis Cluster), not ${others.join(' and ')} too; with a cluster use REDIS_USERNAME, REDIS_PASSWORD and REDIS_TLS`,
    );
    return undefined;
  }
  const before = problems.length;
  for (const name of ['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD', 'REDIS_SENTINEL_TLS'] as const) {
    if (e[name] !== undefined) problems.push(`${name}: only used with REDIS_SENTINELS, not with REDIS_CLUSTER_NODES`);
  }
  if (e.REDIS_DB !== undefined) problems.push('REDIS_DB: a Redis Cluster has database 0 only; unset it with REDIS_CLUSTER_NODES');
  if (e.REDIS_KEY_PREFIX !== undefined && /[{}]/.test(e.REDIS_KEY_PREFIX)) {
    problems.push('REDIS_KEY_PREFIX: must not contain { or } with REDIS_CLUSTER_NODES (Tessera adds the hash tags that keep related keys in one slot)');
  }
  if (!userNeedsPassword('REDIS_USERNAME', 'REDIS_PASSWORD', e.REDIS_PASSWORD !== undefined) || problems.length > before) return undefined;
  const tls = e.REDIS_TLS ?? false;
  const ca = caBundleFrom(e.REDIS_TLS_CA_FILE, tls, problems);
  if (ca === null) return undefined;
  return { mode: 'cluster', nodes, username: e.REDIS_USERNAME, password: e.REDIS_PASSWORD, tls, ca };
}

/**
 * The CA bundle REDIS_TLS_CA_FILE names, read once at start so a wrong path stops the start
 * instead of failing every reconnect. undefined: none given (Node's root CAs); null: a problem
 * was recorded. The path is not echoed, like every other Redis value.
 */
function caBundleFrom(file: string | undefined, tlsUsed: boolean, problems: string[]): string | undefined | null {
  if (file === undefined) return undefined;
  if (!tlsUsed) {
    problems.push('REDIS_TLS_CA_FILE: only used with REDIS_TLS=true or REDIS_SENTINEL_TLS=true');
    return null;
  }
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`REDIS_TLS_CA_FILE: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return null;
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    problems.push('REDIS_TLS_CA_FILE: holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
    return null;
  }
  return pem;
}

/**
 * The connection target for `redis`: the URL as it is, Sentinel options, or the cluster's
 * seed nodes. ioredis asks the sentinels for the current primary on every (re)connect and
 * checks its role, so a connection lost in a failover comes back on the promoted replica by
 * itself; on a cluster, it learns the new owner of each slot from the cluster.
 */
export function redisConnection(redis: RedisConfig): RedisTarget {
  if (redis.mode === 'direct') return redis.url;
  if (redis.mode === 'cluster') {
    const { nodes, username, password, tls, ca } = redis;
    return {
      cluster: {
        nodes,
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(tls ? { tls: ca !== undefined ? { ca } : true } : {}),
      },
    };
  }
  // The verifier library's builder: services and the server connect alike (READONLY → reconnect).
  const { sentinels, name, username, password, sentinelUsername, sentinelPassword, db, tls, sentinelTls, ca } = redis;
  const trust = ca !== undefined ? { ca } : true;
  return sentinelRedisOptions({
    sentinels,
    name,
    db,
    tls: tls && trust,
    sentinelTls: sentinelTls && trust,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(sentinelUsername !== undefined ? { sentinelUsername } : {}),
    ...(sentinelPassword !== undefined ? { sentinelPassword } : {}),
  });
}
