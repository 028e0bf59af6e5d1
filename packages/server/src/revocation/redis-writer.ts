// The one connection a replica writes revocations to Redis with, and the script it writes
// them with: store (merged forward-only with what is there), append to the feed's stream,
// publish, in one step, so an entry is never stored without being announced.
import type { Clock } from '../clock.ts';
import { InfrastructureError } from '../infrastructure-error.ts';
import {
  closeRedis,
  denylistChannel,
  denylistKey,
  encodeDenylistEntry,
  MERGE_ENTRY_LUA,
  openRedis,
  type DenylistEntry,
  type RedisClient,
  type RedisTarget,
} from '@tessera/verifier/internal';
import { APPEND_AND_TRIM_LUA, revocationStreamKey, revocationTrimmedKey } from './redis-log.ts';

/**
 * KEYS: the entry's key, the stream, the trimmed mark (one hash tag: one slot on a cluster);
 * ARGV: the channel, the encoded entry, now. The merge is the revocation model's
 * (MERGE_ENTRY_LUA): a late or replayed write cannot shorten a revocation. PUBLISH (not
 * SPUBLISH) reaches every node of a cluster, wherever a mirror subscribed.
 */
export const REVOKE_SCRIPT = `
local entry = cjson.decode(ARGV[2])
local stored = redis.call('GET', KEYS[1])
if stored then
  local ok, known = pcall(cjson.decode, stored)
  if ok then
${MERGE_ENTRY_LUA}
  end
end
local value = cjson.encode(entry)
redis.call('SET', KEYS[1], value, 'PXAT', string.format('%d', entry['until']))
${APPEND_AND_TRIM_LUA}-- The message, not the stored value, says when it was sent: replicas measure their lag from it.
entry.published_at = tonumber(ARGV[3])
redis.call('PUBLISH', ARGV[1], cjson.encode(entry))
return 1
`;

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new InfrastructureError('redis', `no answer from Redis within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * INFO run where the revocation keys live: on a cluster, the primary of their slot (a
 * script is routed by its key), elsewhere the one server. Its run_id tells a failover.
 */
const SERVER_INFO_SCRIPT = `return redis.call('INFO', 'server')`;

export interface RedisEntryWriterOptions {
  redis: RedisTarget;
  prefix: string;
  clock: Clock;
  writeTimeoutMs: number;
}

export class RedisEntryWriter {
  private redis: RedisClient | undefined;
  /** One shared 'ready' listener for every write waiting on a reconnect. */
  private readyWaiter: Promise<void> | undefined;

  constructor(private readonly options: RedisEntryWriterOptions) {}

  /**
   * Fail fast while disconnected: a revoke must not hang in ioredis' offline queue. A write
   * unanswered for writeTimeoutMs drops the connection, so a half-open socket is replaced by
   * a fresh one (and the outbox flushed on it) instead of swallowing every retry.
   */
  open(): RedisClient {
    this.redis ??= openRedis(this.options.redis, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      socketTimeout: Math.max(this.options.writeTimeoutMs, 500),
      connectionName: 'tessera-denylist-write',
    });
    return this.redis;
  }

  /** The connection, once opened (the feed's log reads with it too). */
  get connection(): RedisClient | undefined {
    return this.redis;
  }

  get isReady(): boolean {
    return this.redis?.status === 'ready';
  }

  /**
   * Waits for the connection: a revoke during a short reconnect (or right after start)
   * should succeed, not fail. Callers bound the wait.
   */
  ready(): Promise<void> {
    const redis = this.redis;
    if (!redis) return Promise.reject(new InfrastructureError('redis', 'the Redis writer is not started'));
    if (redis.status === 'ready') return Promise.resolve();
    this.readyWaiter ??= new Promise<void>((resolve) => {
      redis.once('ready', () => {
        this.readyWaiter = undefined;
        resolve();
      });
    });
    return this.readyWaiter;
  }

  /** Resolves once Redis has stored, appended and published the (merged) entry. */
  async write(entry: DenylistEntry): Promise<void> {
    await this.ready();
    if (!this.redis) throw new InfrastructureError('redis', 'the Redis writer is not started');
    const { prefix } = this.options;
    await this.redis
      .eval(
        REVOKE_SCRIPT,
        3,
        denylistKey(prefix, entry),
        revocationStreamKey(prefix),
        revocationTrimmedKey(prefix),
        denylistChannel(prefix),
        encodeDenylistEntry(entry),
        String(this.options.clock.now()),
      )
      .catch((err: unknown) => {
        throw new InfrastructureError('redis', 'the revocation write to Redis failed', { cause: err });
      });
  }

  /**
   * The run_id of the server holding the revocation keys (another one than before: a
   * failover or a restart); undefined if Redis did not say.
   */
  async serverRunId(): Promise<string | undefined> {
    if (!this.redis) return undefined;
    try {
      const info = (await this.redis.eval(SERVER_INFO_SCRIPT, 1, revocationStreamKey(this.options.prefix))) as string;
      return /^run_id:(\w+)/m.exec(info)?.[1];
    } catch {
      return undefined; // lost the connection again; the next 'ready' asks once more
    }
  }

  async close(): Promise<void> {
    if (this.redis) await closeRedis(this.redis);
  }
}
