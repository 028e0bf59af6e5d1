// One connection at start, before anything else uses Redis, to tell a Redis that refuses our
// settings from one that is merely away. ioredis reports a failed SELECT (a database index
// the server does not have) only as an 'error' event and carries on in database 0, where this
// replica would silently share keys with whatever else lives there: that stops the start.
// A Redis that cannot be reached does not (the denylist starts degraded and catches up), but
// the warning names the variable and where it points.
import { closeRedis, openRedis } from '@tessera/verifier/internal';
import type { Logger } from './logger.ts';
import { redisConnection, type RedisConfig } from './redis-connection.ts';
import { StartupError, passwordOf, withoutPassword } from './startup-error.ts';

/** The variable that says where Redis is, and that target without credentials. */
export function redisSource(redis: RedisConfig): { variable: string; target: string } {
  if (redis.mode === 'direct') return { variable: 'REDIS_URL', target: withoutPassword(redis.url) };
  const list = (addresses: { host: string; port: number }[]) => addresses.map(({ host, port }) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`)).join(',');
  if (redis.mode === 'cluster') return { variable: 'REDIS_CLUSTER_NODES', target: list(redis.nodes) };
  return { variable: 'REDIS_SENTINELS', target: `${list(redis.sentinels)} ${redis.name}` };
}

type Outcome = { kind: 'ready' } | { kind: 'refused'; err: Error } | { kind: 'unreachable'; err: Error | undefined } | { kind: 'wrong-mode'; hint: string };

/** A cluster client's failure carries the node's own answer in lastNodeError. */
const clusterDisabled = (err: Error) => /cluster support disabled/i.test(`${err.message} ${(err as Error & { lastNodeError?: Error }).lastNodeError?.message ?? ''}`);

export async function checkRedisAtStart(redis: RedisConfig, logger: Logger, timeoutMs = 5_000): Promise<void> {
  const { variable, target } = redisSource(redis);
  const connection = openRedis(redisConnection(redis), {
    lazyConnect: true,
    // One attempt: an outage is the denylist's business, not a reason to wait here.
    retryStrategy: () => null,
    sentinelRetryStrategy: () => null,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
    connectionName: 'tessera-start-check',
  });
  let selectError: Error | undefined;
  let lastError: Error | undefined;
  const outcome = await new Promise<Outcome>((resolve) => {
    const timer = setTimeout(() => resolve({ kind: 'unreachable', err: lastError ?? new Error(`no answer within ${timeoutMs} ms`) }), timeoutMs);
    connection.on('error', (err: Error) => {
      // The handshake's SELECT fails before 'ready' is emitted.
      if ((err as Error & { command?: { name?: string } }).command?.name === 'select') selectError = err;
      else lastError = err;
    });
    connection.once('ready', () => {
      clearTimeout(timer);
      if (selectError) return resolve({ kind: 'refused', err: selectError });
      if (redis.mode === 'cluster') return resolve({ kind: 'ready' });
      // A cluster node answers one server's commands until a key lives on another node
      // (MOVED): refused now rather than on some keys later.
      void connection.info('cluster').then(
        (info) => resolve(/^cluster_enabled:1/m.test(info) ? { kind: 'wrong-mode', hint: 'this Redis is a Redis Cluster node; list the cluster in REDIS_CLUSTER_NODES instead' } : { kind: 'ready' }),
        () => resolve({ kind: 'ready' }),
      );
    });
    connection.once('end', () => {
      clearTimeout(timer);
      if (redis.mode === 'cluster' && lastError && clusterDisabled(lastError)) {
        return resolve({ kind: 'wrong-mode', hint: 'this Redis is not a cluster (cluster support disabled); give one server as REDIS_URL instead' });
      }
      resolve({ kind: 'unreachable', err: lastError });
    });
    connection.connect().catch(() => {});
  });
  await closeRedis(connection);
  if (outcome.kind === 'refused') {
    // With Sentinel the index is REDIS_DB; with one server, the path of REDIS_URL.
    const at = redis.mode === 'sentinel' ? 'REDIS_DB' : variable;
    const hint = /DB index/i.test(outcome.err.message) ? 'choose a database index the Redis server has (CONFIG GET databases)' : undefined;
    throw new StartupError(at, redis.mode === 'sentinel' ? String(redis.db) : target, outcome.err, hint);
  }
  if (outcome.kind === 'wrong-mode') throw new StartupError(variable, target, new Error('the Redis server answered in the other mode'), outcome.hint);
  if (outcome.kind === 'unreachable') {
    const secrets = redis.mode === 'direct' ? [passwordOf(redis.url)] : redis.mode === 'cluster' ? [redis.password] : [redis.password, redis.sentinelPassword];
    let cause = outcome.err?.message ?? 'connection closed';
    for (const secret of secrets) if (secret) cause = cause.split(secret).join('[redacted]');
    logger.warn(
      { event: 'redis.unreachable', variable, target, error: cause },
      `${variable} (${target}): ${cause}; starting with the denylist degraded, retrying in the background`,
    );
  }
}
