// Shared by the revocation tests that use the real Redis: unique key prefixes, clean-up,
// bounded polling, and a TCP proxy that can cut the connection to Redis and restore it.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { TcpProxy } from '../../../../scripts/lib/tcp-proxy.ts';

/** The whole URL, database index (`redis://host:6379/6`) and credentials included: pass it on as it is. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A prefix no other test file (or run) uses; the Redis instance is shared. */
export const uniquePrefix = (name: string): string => `tessera-test:${name}:${randomBytes(6).toString('hex')}:`;

export function adminClient(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
}

/**
 * Deletes every key under `prefix`: denylist entries, the revocation feed's stream and its
 * trim mark, throttle counters (never FLUSHALL: other suites share the server, and each
 * test's prefix is its own, see uniquePrefix).
 */
export async function deleteKeys(admin: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await admin.del(...keys);
  } while (cursor !== '0');
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `condition` holds; throws with `what` after `timeoutMs`. Returns the time it took. */
export async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await condition()) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(10);
  }
}

/**
 * A TCP proxy in front of Redis that a test can cut (drop every socket, stop listening) and
 * restore, or stall (established connections stop moving bytes; new ones still work).
 */
export class RedisProxy extends TcpProxy {
  constructor(target = new URL(REDIS_URL)) {
    super(target, 6379, 'redis-proxy');
  }

  /** Redis becomes unreachable: established connections die and new ones are refused. */
  cut(): Promise<void> {
    return this.stop();
  }

  /** Listens again on the same port (no-op when not cut). */
  restore(): Promise<void> {
    return this.start();
  }

  close(): Promise<void> {
    return this.stop();
  }
}
