// The second factor as data: enrolment, confirmation, checking a code exactly once, and the
// login challenges that wait for a code. No audit, no throttling, no HTTP: MfaFlows (the use
// cases) and AuthService.login compose it.
import type { Clock } from '../clock.ts';
import type { Db, Queryable } from '../db/db.ts';
import { voidMailedLinks } from '../account/mail-links.ts';
import { AuthError } from '../errors.ts';
import { userStore, type User } from '../users/user-store.ts';
import {
  hashMfaToken,
  hashRecoveryCode,
  matchTotp,
  newMfaToken,
  newRecoveryCodes,
  newTotpSecret,
  otpauthUri,
  passwordDigest,
} from './codes.ts';
import { mfaStore, type MfaChallenge } from './mfa-store.ts';
import { passkeyStore } from '../passkeys/passkey-store.ts';
import type { SecretBox } from './secret-box.ts';

/** How long a login waits for its second factor. */
export const MFA_TOKEN_TTL_SECONDS = 300;
/** Wrong codes one mfa_token may take before it is void (the account back-off applies too). */
export const MFA_TOKEN_MAX_FAILURES = 5;
/** RFC 8176: what a verified second factor adds to a session's amr. */
export const SECOND_FACTOR_AMR = 'otp';

/** What the caller sends as a second factor: a TOTP code or a recovery code. */
export type SecondFactor = { code: string; recoveryCode?: undefined } | { recoveryCode: string; code?: undefined };

export type SecondFactorResult = { method: 'totp' } | { method: 'recovery_code'; recoveryCodesLeft: number };

/** Runs in the transaction that used a recovery code (the notice mail goes to the outbox there). */
export type OnRecoveryCode = (tx: Queryable, recoveryCodesLeft: number) => Promise<void>;

export interface MfaRequired {
  mfaRequired: true;
  mfaToken: string;
  expiresIn: number;
  methods: string[];
}

/**
 * Removes the user's factor, recovery codes and pending logins (by the user or an operator),
 * and, when an active factor went, voids every mailed link of the user with it: a weaker
 * account must not keep links minted under the stronger one. True if an active factor went.
 */
export async function removeSecondFactor(tx: Queryable, userId: string, now: Date): Promise<boolean> {
  // The user's row first, as every credential change (account/mail-links.ts).
  await userStore.lockById(tx, userId);
  const removed = await mfaStore.removeFactor(tx, userId);
  if (removed) await voidMailedLinks(tx, userId, now, 'second_factor_removed');
  return removed;
}

export class MfaService {
  constructor(
    private readonly deps: { db: Db; clock: Clock; box: SecretBox; totpIssuer: string },
  ) {}

  status(userId: string) {
    return mfaStore.status(this.deps.db, userId);
  }

  /** A new secret, stored sealed and inactive until confirmed. */
  async startEnrollment(user: User): Promise<{ secret: string; otpauthUri: string }> {
    const secret = await newTotpSecret();
    const started = await mfaStore.startEnrollment(this.deps.db, {
      userId: user.id,
      secretSealed: this.deps.box.seal(user.id, secret),
      now: this.now(),
    });
    if (!started) throw new AuthError('mfa_already_enabled', 'A second factor is already active; remove it first');
    return { secret, otpauthUri: await otpauthUri(secret, this.deps.totpIssuer, user.email) };
  }

  /** Activates the pending enrolment with a first code; answers the recovery codes (shown once). */
  async confirm(userId: string, code: string): Promise<string[]> {
    const factor = await mfaStore.findFactor(this.deps.db, userId);
    if (!factor) throw new AuthError('mfa_not_enabled', 'No enrolment to confirm; start one with /auth/mfa/totp/enroll');
    if (factor.confirmedAt) throw new AuthError('mfa_already_enabled', 'The second factor is already active');
    const step = await matchTotp(this.deps.box.open(userId, factor.secretSealed), code, this.deps.clock.now());
    if (step === undefined) throw new AuthError('invalid_mfa_code', 'The code is not correct');
    const codes = newRecoveryCodes();
    const confirmed = await this.deps.db.transaction(async (tx) => {
      if (!(await mfaStore.confirm(tx, { userId, secretSealed: factor.secretSealed, step, now: this.now() }))) return false;
      await mfaStore.replaceRecoveryCodes(tx, userId, codes.map(hashRecoveryCode), this.now());
      return true;
    });
    // Confirmed meanwhile by another request, or replaced by a new enrolment.
    if (!confirmed) throw new AuthError('invalid_mfa_code', 'The enrolment changed meanwhile; start again');
    return codes;
  }

  /**
   * Checks and uses a code: a TOTP code once per time step (and never an older step than
   * one already used), a recovery code once. Undefined when wrong, replayed or no factor.
   */
  async check(userId: string, factor: SecondFactor, options: { tx?: Queryable; onRecoveryCode?: OnRecoveryCode } = {}): Promise<SecondFactorResult | undefined> {
    const db = options.tx ?? this.deps.db;
    if (factor.recoveryCode !== undefined) {
      const hash = hashRecoveryCode(factor.recoveryCode);
      const use = async (tx: Queryable) => {
        const left = await mfaStore.useRecoveryCode(tx, userId, hash, this.now());
        if (left !== undefined) await options.onRecoveryCode?.(tx, left);
        return left;
      };
      // With a notice to queue and no transaction yet, the code and its notice share one.
      const left = options.tx || !options.onRecoveryCode ? await use(db) : await this.deps.db.transaction(use);
      return left === undefined ? undefined : { method: 'recovery_code', recoveryCodesLeft: left };
    }
    const totp = await mfaStore.findFactor(db, userId);
    if (!totp?.confirmedAt) return undefined;
    const step = await matchTotp(this.deps.box.open(userId, totp.secretSealed), factor.code, this.deps.clock.now());
    if (step === undefined) return undefined;
    return (await mfaStore.useStep(db, userId, step)) ? { method: 'totp' } : undefined;
  }

  /** Removes the factor and its recovery codes; false when there was no active factor. */
  remove(userId: string): Promise<boolean> {
    return this.deps.db.transaction((tx) => removeSecondFactor(tx, userId, this.now()));
  }

  /**
   * For a login whose password was right: when the account has an active factor, a
   * challenge (mfa_token) bound to the user and this password hash; undefined otherwise.
   */
  async challengeFor(login: {
    userId: string;
    passwordHash: string | null;
    remember: boolean;
    tokenDelivery: 'body' | 'cookie';
    /** A provider sign-in: its amr (the session gets these plus `otp`) and its name. */
    provider?: { amr: string[]; idp: string };
  }): Promise<MfaRequired | undefined> {
    const status = await this.status(login.userId);
    // A passkey is a second factor too: `webauthn` joins the methods (POST /auth/mfa/webauthn/options).
    const passkeys = await passkeyStore.countForUser(this.deps.db, login.userId);
    if (!status.active && passkeys === 0) return undefined;
    const token = newMfaToken();
    const now = this.deps.clock.now();
    await mfaStore.purgeExpiredChallenges(this.deps.db, new Date(now), 100);
    await mfaStore.insertChallenge(this.deps.db, {
      tokenHash: hashMfaToken(token),
      userId: login.userId,
      passwordDigest: passwordDigest(login.passwordHash),
      remember: login.remember,
      tokenDelivery: login.tokenDelivery,
      createdAt: new Date(now),
      expiresAt: new Date(now + MFA_TOKEN_TTL_SECONDS * 1000),
      firstAmr: login.provider?.amr ?? null,
      idp: login.provider?.idp ?? null,
    });
    const methods = [
      ...(status.active ? ['totp'] : []),
      ...(status.active && status.recoveryCodesLeft > 0 ? ['recovery_code'] : []),
      ...(passkeys > 0 ? ['webauthn'] : []),
    ];
    return { mfaRequired: true, mfaToken: token, expiresIn: MFA_TOKEN_TTL_SECONDS, methods };
  }

  /**
   * The live challenge of an mfa_token and its user, as long as the user still has the
   * password hash it was issued for and is not disabled. Throws invalid_mfa_token.
   */
  async openChallenge(token: string): Promise<{ challenge: MfaChallenge; user: User & { passwordHash: string } }> {
    const challenge = await mfaStore.findChallenge(this.deps.db, hashMfaToken(token), this.now());
    const user = challenge && (await userStore.findById(this.deps.db, challenge.userId));
    if (!challenge || !user || user.disabledAt || user.passwordHash === null || passwordDigest(user.passwordHash) !== challenge.passwordDigest) {
      throw new AuthError('invalid_mfa_token', 'The mfa_token is invalid, expired or already used; log in again');
    }
    return { challenge, user: { ...user, passwordHash: user.passwordHash } };
  }

  /**
   * Checks the code under the challenge's row lock and, when right, deletes the challenge
   * in the same transaction: the mfa_token and the code are used together or not at all,
   * whichever replica the concurrent attempts reach. A wrong code counts against the token.
   */
  async redeemChallenge(challenge: MfaChallenge, factor: SecondFactor, onRecoveryCode?: OnRecoveryCode): Promise<SecondFactorResult> {
    const outcome = await this.deps.db.transaction(async (tx) => {
      const locked = await mfaStore.lockChallenge(tx, challenge.tokenHash, this.now());
      if (!locked) return 'gone' as const;
      const result = await this.check(locked.userId, factor, { tx, ...(onRecoveryCode ? { onRecoveryCode } : {}) });
      if (!result) {
        await mfaStore.challengeFailed(tx, locked.tokenHash, MFA_TOKEN_MAX_FAILURES);
        return 'wrong' as const;
      }
      await mfaStore.deleteChallenge(tx, locked.tokenHash);
      return result;
    });
    if (outcome === 'gone') throw new AuthError('invalid_mfa_token', 'The mfa_token is invalid, expired or already used; log in again');
    if (outcome === 'wrong') throw new AuthError('invalid_mfa_code', 'The code is not correct, or was already used');
    return outcome;
  }

  /**
   * Like redeemChallenge for a factor checked elsewhere (a passkey): `use` runs under the
   * challenge's row lock and the challenge is deleted in the same transaction, so the
   * mfa_token and the factor are used together or not at all. A `use` that throws leaves both.
   */
  async redeemWith<T>(challenge: MfaChallenge, use: (tx: Queryable) => Promise<T>): Promise<T> {
    const outcome = await this.deps.db.transaction(async (tx) => {
      const locked = await mfaStore.lockChallenge(tx, challenge.tokenHash, this.now());
      if (!locked) return { gone: true as const };
      const value = await use(tx);
      await mfaStore.deleteChallenge(tx, locked.tokenHash);
      return { gone: false as const, value };
    });
    if (outcome.gone) throw new AuthError('invalid_mfa_token', 'The mfa_token is invalid, expired or already used; log in again');
    return outcome.value;
  }

  private now(): Date {
    return new Date(this.deps.clock.now());
  }
}
