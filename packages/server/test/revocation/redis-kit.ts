// Shared by the revocation tests that use the real Redis: unique key prefixes, clean-up,
// bounded polling, and a TCP proxy that can cut the connection to Redis and restore it.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';

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
export class RedisProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private port = 0;

  constructor(private target = new URL(REDIS_URL)) {}

  /** New connections go to `target` from now on (established ones stay where they are). */
  retarget(target: URL): void {
    this.target = target;
  }

  /** The target's URL with the proxy's address: its database index and credentials kept. */
  get url(): string {
    const url = new URL(this.target.href);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(this.target.port || 6379), this.target.hostname);
      const pair = { client, upstream };
      this.pairs.add(pair);
      for (const socket of [client, upstream]) {
        socket.on('error', () => {});
        socket.on('close', () => {
          this.pairs.delete(pair);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Redis becomes unreachable: established connections die and new ones are refused. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again on the same port (no-op when not cut). */
  async restore(): Promise<void> {
    if (!this.server) await this.start();
  }

  /**
   * The established connections go silent without closing (a half-open socket, a dead NAT
   * entry): bytes are held back, not lost. Returns a function that lets them flow again.
   */
  stall(): () => void {
    const stalled = [...this.pairs];
    for (const { client, upstream } of stalled) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
    return () => {
      for (const { client, upstream } of stalled) {
        client.pipe(upstream);
        upstream.pipe(client);
      }
    };
  }

  async close(): Promise<void> {
    await this.cut();
  }
}
