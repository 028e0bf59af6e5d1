// `@tessera/verifier/redis`: what a service needs to follow the denylist from Tessera's
// Redis. The key format, the encoding and the server's hooks are not part of it: they live
// in revocation-model.ts and reach the server through `@tessera/verifier/internal`.
export {
  syncDenylistFromRedis,
  type DenylistSync,
  type DenylistSyncOptions,
  type DenylistSyncStatus,
} from './redis-sync.js';
export { sentinelRedisOptions } from './redis-connection.js';
export { DEFAULT_KEY_PREFIX } from './revocation-model.js';
