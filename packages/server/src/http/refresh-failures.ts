// The per-IP limit on refresh counts failures only. Refresh tokens are 256 random bits:
// nobody guesses one, so a budget on every refresh protects nothing and throttles offices:
// 5,000 users behind one NAT refreshing every 15 minutes are 333 refreshes a minute from one
// address. What is worth bounding per address is failed attempts (junk tokens, replays); a
// client looping with a valid session is bounded per session, in the rotation statement
// itself (RATE_LIMIT_REFRESH_SESSION_PER_MINUTE, see session-store.ts).
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RedisClient } from '@tessera/verifier/internal';
import type { Config } from '../config.ts';
import { AuthError } from '../errors.ts';

export const REFRESH_ROUTES = ['POST /auth/refresh', 'POST /oauth/token'] as const;

const WINDOW_MS = 60_000;
/** At most this many addresses are counted in memory; the oldest windows go first. */
const MEMORY_MAX_KEYS = 10_000;
/** Store failures are logged at most this often. */
const LOG_EVERY_MS = 10_000;

/** Failures per key in fixed one-minute windows. */
export interface FailureCounter {
  /** Failures in the key's current window, and ms until that window ends. */
  get(key: string, now: number): Promise<{ count: number; resetInMs: number }>;
  add(key: string, now: number): Promise<void>;
}

export class MemoryFailureCounter implements FailureCounter {
  private readonly windows = new Map<string, { count: number; endsAt: number }>();

  async get(key: string, now: number) {
    const window = this.windows.get(key);
    if (!window || window.endsAt <= now) return { count: 0, resetInMs: 0 };
    return { count: window.count, resetInMs: window.endsAt - now };
  }

  async add(key: string, now: number): Promise<void> {
    const window = this.windows.get(key);
    this.windows.delete(key);
    this.windows.set(key, window && window.endsAt > now ? { count: window.count + 1, endsAt: window.endsAt } : { count: 1, endsAt: now + WINDOW_MS });
    while (this.windows.size > MEMORY_MAX_KEYS) {
      const oldest = this.windows.keys().next().value;
      if (oldest === undefined) break;
      this.windows.delete(oldest);
    }
  }
}

/** INCR, and the window's expiry on the first failure of a window: one atomic step. */
const ADD_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;

export class RedisFailureCounter implements FailureCounter {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  // Every refresh asks, nearly always about an address with no failures: one GET then, and
  // the window's PTTL only when there is a count (a MULTI/GET/PTTL/EXEC was four commands
  // on every refresh). A window that ends between the two reads says 0 ms, as a gone key does.
  async get(key: string) {
    const count = Number((await this.redis.get(this.prefix + key)) ?? 0);
    if (count === 0) return { count: 0, resetInMs: 0 };
    return { count, resetInMs: Math.max(0, await this.redis.pttl(this.prefix + key)) };
  }

  async add(key: string): Promise<void> {
    await this.redis.eval(ADD_SCRIPT, 1, this.prefix + key, String(WINDOW_MS));
  }
}

// Hashed: Redis holds no client addresses.
const keyFor = (request: FastifyRequest) => crypto.createHash('sha256').update(request.ip ?? 'unknown').digest('base64url').slice(0, 22);

/**
 * Refuses a refresh from an address that failed `refreshIpPerMinute` times in the current
 * minute (before the body is read), and counts every failed refresh (a 400, 401 or 403
 * answer). Fails open if the shared store is unreachable, like the other limiters.
 */
export function registerRefreshFailureLimit(app: FastifyInstance, config: Config, redis: RedisClient | undefined, now: () => number = Date.now): void {
  const max = config.rateLimit.refreshIpPerMinute;
  const counter: FailureCounter = redis ? new RedisFailureCounter(redis, `${config.redisKeyPrefix}refresh-failures:`) : new MemoryFailureCounter();
  const routes = new Set<string>(REFRESH_ROUTES);
  const limited = (request: FastifyRequest) => routes.has(`${request.method} ${request.routeOptions.url ?? ''}`);
  let lastWarning = 0;
  const warn = (request: FastifyRequest, err: unknown) => {
    if (Date.now() - lastWarning < LOG_EVERY_MS) return;
    lastWarning = Date.now();
    request.log.warn({ event: 'throttle.store_failed', error: (err as Error).message }, 'refresh failure counter unavailable; failures are not being counted');
  };

  app.addHook('onRequest', async (request, reply) => {
    if (!limited(request)) return;
    let state;
    try {
      state = await counter.get(keyFor(request), now());
    } catch (err) {
      warn(request, err);
      return;
    }
    if (state.count >= max) {
      const retryAfter = Math.max(1, Math.ceil(state.resetInMs / 1000));
      // Set here, as @fastify/rate-limit does: /oauth/token's RFC 6749 errors carry no extras.
      reply.header('retry-after', String(retryAfter));
      throw new AuthError('rate_limited', `Too many failed refreshes from this address; retry in ${retryAfter} s`, { retry_after: retryAfter });
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    if (!limited(request) || ![400, 401, 403].includes(reply.statusCode)) return;
    await counter.add(keyFor(request), now()).catch((err: unknown) => warn(request, err));
  });
}
