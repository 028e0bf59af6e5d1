// How often one address or one account can be sent mail: a few in a row, then an
// exponential back-off (the same counters as the login throttle, shared by the replicas
// through Redis). Keyed by the normalised address whether or not an account has it, so a
// throttled `forgot` answers the same for real and unknown addresses.
import crypto from 'node:crypto';
import type { RedisClient } from '@tessera/verifier/internal';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { AuthError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { MemoryAttemptStore, type AttemptStore, type BackoffPolicy } from '../throttle/attempt-store.ts';
import { RedisAttemptStore } from '../throttle/redis-attempt-store.ts';

/** Mails to one address (or for one account) before the back-off starts. */
export const MAILS_BEFORE_BACKOFF = 3;
const FIRST_WINDOW_MS = 60_000;
const MEMORY_MS = 3_600_000;
const LOG_EVERY_MS = 10_000;

const digest = (value: string) => crypto.createHash('sha256').update(value).digest('base64url').slice(0, 22);

export class RecoveryThrottle {
  private readonly policy: BackoffPolicy;
  private lastWarning = 0;

  constructor(
    private readonly store: AttemptStore,
    private readonly clock: Clock,
    maxWindowSeconds: number,
    private readonly logger: Logger,
  ) {
    const maxMs = Math.max(FIRST_WINDOW_MS, maxWindowSeconds * 1000);
    this.policy = { threshold: MAILS_BEFORE_BACKOFF, baseMs: FIRST_WINDOW_MS, maxMs, memoryMs: MEMORY_MS };
  }

  /** Before queueing a reset mail for this (normalised) address. Throws rate_limited. */
  async beforeResetMail(email: string): Promise<void> {
    await this.attempt(`reset:{${digest(email)}}`, 'Too many reset requests for this address; retry later');
  }

  /** Before queueing a verification or email-change mail for this account. Throws rate_limited. */
  async beforeAccountMail(userId: string): Promise<void> {
    await this.attempt(`account-mail:{${digest(userId)}}`, 'Too many mails requested for this account; retry later');
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  private async attempt(key: string, detail: string): Promise<void> {
    let result;
    try {
      result = await this.store.attempt([{ key, policy: this.policy }], this.clock.now());
    } catch (err) {
      // Fail open like the login throttle: Redis down must not stop recovery.
      const now = Date.now();
      if (now - this.lastWarning >= LOG_EVERY_MS) {
        this.lastWarning = now;
        this.logger.warn({ event: 'throttle.store_failed', error: (err as Error).message }, 'recovery throttle store unavailable');
      }
      return;
    }
    if (!result.allowed) {
      const retryAfter = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
      throw new AuthError('rate_limited', `${detail} (in ${retryAfter} s)`, { retry_after: retryAfter });
    }
  }
}

/** Redis-backed with REDIS_URL, memory otherwise; none when RATE_LIMIT_ENABLED=false. */
export function createRecoveryThrottle(
  config: Pick<Config, 'rateLimit' | 'redisKeyPrefix'>,
  deps: { redis?: RedisClient | undefined; clock: Clock; logger: Logger },
): RecoveryThrottle | undefined {
  if (!config.rateLimit.enabled) return undefined;
  const store = deps.redis ? new RedisAttemptStore(deps.redis, `${config.redisKeyPrefix}throttle:`) : new MemoryAttemptStore();
  return new RecoveryThrottle(store, deps.clock, config.rateLimit.backoffMaxSeconds, deps.logger);
}
