// Per-account throttling of password guesses (OWASP Authentication Cheat Sheet: protect
// against automated attacks without an indefinite lock-out). Two counters per login:
// - the (account, IP) pair backs off after `failuresBeforeBackoff` attempts: one attacker
//   hammering one account is slowed at once, and the real user elsewhere is not affected;
// - the account from anywhere backs off after 4× as many, so a botnet spread over many
//   addresses is slowed too, and a user's own typos never reach it.
// Every window is capped (`backoffMaxSeconds`) and a refused attempt never lengthens it, so
// the worst an attacker can do to the real user is make them wait that long. A success
// clears both counters. Keys are derived from the normalised email whether or not an
// account exists, so the throttle answers the same for real and unknown emails.
import crypto from 'node:crypto';
import type { RedisClient } from '@tessera/verifier/internal';
import type { Clock } from '../clock.ts';
import type { Config, RateLimitConfig } from '../config.ts';
import { AuthError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { normalizeEmail } from '../users/user-service.ts';
import { MemoryAttemptStore, type Attempt, type AttemptStore, type BackoffPolicy } from './attempt-store.ts';
import { RedisAttemptStore } from './redis-attempt-store.ts';

/** Account-wide attempts allowed per pair attempt before the account itself backs off. */
export const ACCOUNT_THRESHOLD_FACTOR = 4;
const BASE_WINDOW_MS = 1_000;
/** A counter quiet this long after its window forgets everything. */
const MEMORY_MS = 3_600_000;
/**
 * Wrong authenticator codes per account before its codes are refused for MFA_LOCK_MS
 * (recovery codes still work): the back-off alone still lets about a hundred guesses a day
 * through to someone who has the password.
 */
export const MFA_LOCK_THRESHOLD = 10;
export const MFA_LOCK_MS = 24 * 3_600_000;
/** Store failures are logged at most this often: an outage must not flood the log. */
const LOG_EVERY_MS = 10_000;

// Hashed so that Redis holds neither emails nor addresses, and every key has the same size
// whatever the input. The email hash is a Redis Cluster hash tag, so an account's keys
// share a slot and one script can update them together.
const digest = (value: string) => crypto.createHash('sha256').update(value).digest('base64url').slice(0, 22);

export class LoginThrottle {
  private readonly pairPolicy: BackoffPolicy;
  private readonly accountPolicy: BackoffPolicy;
  private lastStoreWarning = 0;

  constructor(
    private readonly store: AttemptStore,
    private readonly clock: Clock,
    settings: Pick<RateLimitConfig, 'failuresBeforeBackoff' | 'backoffMaxSeconds'>,
    private readonly logger: Logger,
  ) {
    const maxMs = settings.backoffMaxSeconds * 1000;
    const base = Math.min(BASE_WINDOW_MS, maxMs);
    this.pairPolicy = { threshold: settings.failuresBeforeBackoff, baseMs: base, maxMs, memoryMs: MEMORY_MS };
    this.accountPolicy = { ...this.pairPolicy, threshold: settings.failuresBeforeBackoff * ACCOUNT_THRESHOLD_FACTOR };
  }

  /** Before checking a login's password. Throws `rate_limited` (429, with `retry_after`). */
  async beforeLogin(email: string, ip: string | null): Promise<void> {
    await this.attempt(this.loginAttempts(email, ip), 'Too many login attempts for this account; retry later');
  }

  async loginSucceeded(email: string, ip: string | null): Promise<void> {
    await this.reset(this.loginAttempts(email, ip).map((a) => a.key));
  }

  /** Before checking the current password of a signed-in user (password change). */
  async beforePasswordCheck(userId: string): Promise<void> {
    await this.attempt([this.passwordAttempt(userId)], 'Too many wrong current passwords; retry later');
  }

  async passwordCheckSucceeded(userId: string): Promise<void> {
    await this.reset([this.passwordAttempt(userId).key]);
  }

  /**
   * Before checking a second-factor code (login, step-up, confirm, removal). Its own
   * counter per account: a correct password resets the login counters, so wrong codes
   * must not be counted there, or each fresh password check would wipe them.
   * An authenticator code of an active factor (`lockable`) is also counted, before it is
   * compared, toward the account's lock: after MFA_LOCK_THRESHOLD of them without a success
   * such codes are refused with `mfa_locked` (429) for MFA_LOCK_MS. Recovery codes (80
   * random bits) and an enrolment's first code are not, so they work while it is locked.
   */
  async beforeSecondFactor(userId: string, lockable = false): Promise<void> {
    await this.attempt([this.secondFactorAttempt(userId)], 'Too many wrong codes for this account; retry later');
    if (!lockable) return;
    const result = await this.tryStore(() => this.store.attempt([this.lockAttempt(userId)], this.clock.now()));
    if (result && !result.allowed) {
      const retryAfter = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
      throw new AuthError(
        'mfa_locked',
        `Too many wrong codes for this account: authenticator codes are refused for ${Math.ceil(retryAfter / 3600)} h; a recovery code still works`,
        { retry_after: retryAfter },
      );
    }
  }

  /**
   * After a wrong authenticator code: true exactly once per lock, for the code that
   * engaged it (whichever replica saw it), so the owner is mailed once, not once per code.
   */
  async secondFactorLocked(userId: string): Promise<boolean> {
    const now = this.clock.now();
    const probe = await this.tryStore(() => this.store.attempt([this.lockAttempt(userId)], now, { count: false }));
    if (probe === undefined || probe.allowed) return false;
    // The first to get here for this lock; the key lives as long as the lock.
    const first = await this.tryStore(() => this.store.attempt([this.lockNoticeAttempt(userId)], now));
    return first?.allowed === true;
  }

  async secondFactorSucceeded(userId: string): Promise<void> {
    await this.reset([this.secondFactorAttempt(userId).key, this.lockAttempt(userId).key, this.lockNoticeAttempt(userId).key]);
  }

  /**
   * Client credentials (admin, OAuth and feed clients), once the secret has been compared
   * and before the answer is given. One atomic step per request decides whether its outcome
   * may be told: a failure is counted and answered only while the address's budget lasts
   * (`failuresBeforeBackoff`, then windows), so however many guesses arrive together at most
   * the budget learn "wrong", and a right secret among them is refused like the rest once
   * it is spent. A success is checked the same way but never counted (a tool may send many
   * requests in parallel) and does not wipe earlier failures (a client on the attacker's
   * address must not hand the attacker fresh guesses). `budget` names the list of secrets
   * guessed at: one back-off per list and address, whichever route it is tried on.
   * Throws `rate_limited` while a window is open, right secret or not.
   */
  async clientAuth(budget: string, ip: string | null, failed: boolean): Promise<void> {
    let result;
    try {
      result = await this.store.attempt([this.clientAttempt(budget, ip)], this.clock.now(), { count: failed });
    } catch (err) {
      this.warnStoreFailure(err);
      return;
    }
    if (!result.allowed) {
      const retryAfter = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
      throw new AuthError('rate_limited', `Too many failed client authentications from this address; retry in ${retryAfter} s`, { retry_after: retryAfter });
    }
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  private loginAttempts(email: string, ip: string | null): Attempt[] {
    const account = `{${digest(normalizeEmail(email))}}`;
    return [
      { key: `login:${account}:${digest(ip ?? 'unknown')}`, policy: this.pairPolicy },
      { key: `login:${account}`, policy: this.accountPolicy },
    ];
  }

  private passwordAttempt(userId: string): Attempt {
    return { key: `password:{${digest(userId)}}`, policy: this.pairPolicy };
  }

  private secondFactorAttempt(userId: string): Attempt {
    return { key: `mfa:{${digest(userId)}}`, policy: this.pairPolicy };
  }

  private clientAttempt(budget: string, ip: string | null): Attempt {
    return { key: `client:${budget}:{${digest(ip ?? 'unknown')}}`, policy: this.pairPolicy };
  }

  private lockAttempt(userId: string): Attempt {
    return { key: `mfa-lock:{${digest(userId)}}`, policy: { threshold: MFA_LOCK_THRESHOLD, baseMs: MFA_LOCK_MS, maxMs: MFA_LOCK_MS, memoryMs: MFA_LOCK_MS } };
  }

  /** Open (refusing) from the first attempt on for MFA_LOCK_MS: a once-per-lock flag. */
  private lockNoticeAttempt(userId: string): Attempt {
    return { key: `mfa-lock-notice:{${digest(userId)}}`, policy: { threshold: 1, baseMs: MFA_LOCK_MS, maxMs: MFA_LOCK_MS, memoryMs: 1 } };
  }

  /** A store call that fails open (undefined) with the usual rate-limited warning. */
  private async tryStore<T>(call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (err) {
      this.warnStoreFailure(err);
      return undefined;
    }
  }

  private async attempt(attempts: Attempt[], detail: string): Promise<void> {
    let result;
    try {
      result = await this.store.attempt(attempts, this.clock.now());
    } catch (err) {
      // Fail open: an unreachable Redis must not stop every login. The per-IP limit and
      // argon2's cost still bound guessing meanwhile.
      this.warnStoreFailure(err);
      return;
    }
    if (!result.allowed) {
      const retryAfter = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
      throw new AuthError('rate_limited', `${detail} (in ${retryAfter} s)`, { retry_after: retryAfter });
    }
  }

  private async reset(keys: string[]): Promise<void> {
    try {
      await this.store.reset(keys);
    } catch (err) {
      this.warnStoreFailure(err);
    }
  }

  private warnStoreFailure(err: unknown): void {
    const now = Date.now();
    if (now - this.lastStoreWarning < LOG_EVERY_MS) return;
    this.lastStoreWarning = now;
    this.logger.warn(
      { event: 'throttle.store_failed', error: err instanceof Error ? err.message : String(err) },
      'login throttle store unavailable; attempts are not being counted',
    );
  }
}

/** The throttle the config asks for: Redis-backed when a connection is given, memory otherwise; none when disabled. */
export function createLoginThrottle(
  config: Pick<Config, 'rateLimit' | 'redisKeyPrefix'>,
  deps: { redis?: RedisClient | undefined; clock: Clock; logger: Logger },
): LoginThrottle | undefined {
  if (!config.rateLimit.enabled) return undefined;
  const store = deps.redis ? new RedisAttemptStore(deps.redis, `${config.redisKeyPrefix}throttle:`) : new MemoryAttemptStore();
  return new LoginThrottle(store, deps.clock, config.rateLimit, deps.logger);
}
