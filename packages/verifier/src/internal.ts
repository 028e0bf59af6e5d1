// `@tessera/verifier/internal`: NOT a public API. What only Tessera's server (and its tests
// and benchmarks) needs from the verifier: the revocation model (entry kinds, merge rule,
// Redis and feed formats, the Lua merge), the Redis connection helpers and the denylist
// sync's hooks. It may change in any release, without notice.
export * from './revocation-model.js';
export { closeRedis, defaultRetryStrategy, isClusterTarget, openRedis, sentinelRedisOptions, type RedisClient, type RedisTarget } from './redis-connection.js';
export { startDenylistSync, syncDenylistFromRedis, type DenylistSync, type DenylistSyncInternals, type DenylistSyncOptions, type DenylistSyncStatus } from './redis-sync.js';
