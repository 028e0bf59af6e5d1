// The second-factor use cases the routes call, one method per endpoint: enrolment,
// confirmation, removal, the second step of a login, and step-up — with a TOTP code, a
// recovery code or a passkey. They own the throttling of codes and passwords, the audit
// events and the tokens answered.
import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import type { AuthService, RequestContext, TokenPair } from '../auth-service.ts';
import type { RecoveryCodeNotice } from '../account/recovery.ts';
import type { AuthMetrics } from '../metrics/metrics.ts';
import { toSeconds, type Clock } from '../clock.ts';
import { AuthError } from '../errors.ts';
import type { SessionService } from '../sessions/session-service.ts';
import type { LoginThrottle } from '../throttle/login-throttle.ts';
import type { IssueAccessToken } from '../tokens/access-token.ts';
import type { UserService } from '../users/user-service.ts';
import type { User } from '../users/user-store.ts';
import { SECOND_FACTOR_AMR, type MfaService, type OnRecoveryCode, type SecondFactor, type SecondFactorResult } from './mfa-service.ts';
import type { AccessTokenClaims } from '@tessera/verifier';
import { passkeyAmr, type PasskeyAssertions } from '../passkeys/passkey-assertions.ts';
import type { PasskeyStore } from '../passkeys/passkey-store.ts';
import type { Db } from '../db/db.ts';

/** A second factor as the routes receive it: a code, a recovery code, or a passkey's assertion. */
export type LoginFactor = SecondFactor | { credential: AuthenticationResponseJSON };

/** Passkeys as a second factor (passkeys/), when wired. */
export interface PasskeyFactor {
  db: Db;
  store: PasskeyStore;
  assertions: PasskeyAssertions;
}

export interface MfaFlowsDeps {
  auth: AuthService;
  mfa: MfaService;
  users: UserService;
  sessions: SessionService;
  issueAccessToken: IssueAccessToken;
  clock: Clock;
  /** A login completed here counts in tessera_logins_total like one completed at /auth/login. */
  metrics?: AuthMetrics;
  throttle?: LoginThrottle;
  /** Mails the user a notice when a recovery code is used (account/recovery.ts's outbox). */
  recoveryCodeNotice?: RecoveryCodeNotice;
  passkeys?: PasskeyFactor;
}

/** A step-up answer: a new access token for the same session; its refresh token is unchanged. */
export interface StepUpResult {
  accessToken: string;
  expiresIn: number;
  refreshExpiresIn: number;
}

export class MfaFlows {
  constructor(private readonly deps: MfaFlowsDeps) {}

  /** Whether the caller's account has an active authenticator and how many recovery codes are left. */
  async status(claims: AccessTokenClaims): Promise<{ active: boolean; recoveryCodesLeft: number }> {
    const user = await this.currentUser(claims);
    return this.deps.mfa.status(user.id);
  }

  async enroll(claims: AccessTokenClaims, password: string, ctx: RequestContext) {
    const user = await this.currentUser(claims);
    await this.checkPassword(user, password, 'password', claims, ctx);
    const enrollment = await this.deps.mfa.startEnrollment(user);
    this.deps.auth.audit('mfa.enrollment_started', { user_id: user.id, session_id: claims.sid, method: 'totp' }, ctx);
    return enrollment;
  }

  async confirm(claims: AccessTokenClaims, code: string, ctx: RequestContext): Promise<string[]> {
    const user = await this.currentUser(claims);
    const codes = await this.throttled(user.id, claims.sid, ctx, async () => {
      try {
        return await this.deps.mfa.confirm(user.id, code);
      } catch (err) {
        // A wrong code counts toward the back-off like any other; "nothing to confirm" does not.
        if (err instanceof AuthError && err.code === 'invalid_mfa_code') return undefined;
        throw err;
      }
    });
    this.deps.auth.audit('mfa.enabled', { user_id: user.id, session_id: claims.sid, method: 'totp', recovery_codes: codes.length }, ctx);
    return codes;
  }

  async disable(claims: AccessTokenClaims, password: string, factor: SecondFactor, ctx: RequestContext): Promise<void> {
    const user = await this.currentUser(claims);
    await this.checkPassword(user, password, 'password', claims, ctx);
    const used = await this.throttled(user.id, claims.sid, ctx, () => this.deps.mfa.check(user.id, factor, this.notice(user, ctx)));
    this.afterRecoveryCode(user, used, claims.sid, ctx);
    if (!(await this.deps.mfa.remove(user.id))) throw new AuthError('mfa_not_enabled', 'No second factor is active');
    this.deps.auth.audit('mfa.disabled', { user_id: user.id, session_id: claims.sid, method: 'totp', by: 'user' }, ctx);
  }

  /**
   * Request options for a passkey as the second factor: of a login waiting on its mfa_token,
   * or of the bearer's session (step-up). Only that user's passkeys are allowed.
   */
  async webauthnOptions(input: { mfaToken: string } | { claims: AccessTokenClaims }, ctx: RequestContext): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const passkeys = this.passkeys();
    if ('mfaToken' in input) {
      const { challenge, user } = await this.openLogin(input.mfaToken, ctx);
      const allow = await this.passkeysOf(user.id);
      return passkeys.assertions.options('second_factor', { userId: user.id, mfaTokenHash: challenge.tokenHash }, allow, 'preferred');
    }
    const user = await this.currentUser(input.claims);
    const allow = await this.passkeysOf(user.id);
    return passkeys.assertions.options('step_up', { userId: user.id, sessionId: input.claims.sid }, allow, 'preferred');
  }

  /** The second step of a login: the mfa_token and a code or a passkey → a token pair for a new session. */
  async verifyLogin(mfaToken: string, factor: LoginFactor, ctx: RequestContext): Promise<{ pair: TokenPair; delivery: 'body' | 'cookie' }> {
    if ('credential' in factor) return this.verifyLoginWithPasskey(mfaToken, factor.credential, ctx);
    const { challenge, user } = await this.openLogin(mfaToken, ctx);
    const used = await this.throttled(user.id, null, ctx, async () => {
      try {
        return await this.deps.mfa.redeemChallenge(challenge, factor, this.notice(user, ctx).onRecoveryCode);
      } catch (err) {
        if (err instanceof AuthError && err.code === 'invalid_mfa_code') return undefined;
        throw err;
      }
    }).catch((err: unknown) => {
      if (err instanceof AuthError) this.deps.metrics?.login(err.code === 'rate_limited' ? 'throttled' : 'failed');
      throw err;
    });
    const session = await this.deps.sessions.create({
      userId: user.id,
      // Re-checked under the user's row lock: a password change since the challenge wins.
      verifiedPasswordHash: user.passwordHash,
      clientId: this.deps.auth.clientId,
      remember: challenge.remember,
      // A provider sign-in keeps what the provider reported (maybe nothing) and its idp.
      amr: [...(challenge.firstAmr ?? ['pwd']), SECOND_FACTOR_AMR],
      ...(challenge.idp ? { idp: challenge.idp } : {}),
      ...ctx,
    });
    if (!session) throw new AuthError('invalid_mfa_token', 'The password changed meanwhile; log in again');
    this.afterRecoveryCode(user, used, session.session.id, ctx);
    this.deps.metrics?.login('succeeded');
    this.deps.auth.audit('login.succeeded', { user_id: user.id, session_id: session.session.id, amr: session.session.amr, method: used.method }, ctx);
    return { pair: await this.deps.auth.pairFor(session), delivery: challenge.tokenDelivery };
  }

  /**
   * A fresh second factor on the caller's session: amr gains `otp` (or the passkey's methods,
   * see passkeyAmr), auth_time becomes now.
   */
  async stepUp(claims: AccessTokenClaims, factor: LoginFactor, ctx: RequestContext): Promise<StepUpResult> {
    const user = await this.currentUser(claims);
    let methods: string[];
    let method: string;
    if ('credential' in factor) {
      const { assertions, db } = this.passkeys();
      const verified = await assertions.verify(factor.credential, { purpose: 'step_up', binding: { userId: user.id, sessionId: claims.sid }, userId: user.id, requireUserVerification: false }, ctx);
      await db.transaction((tx) => assertions.commit(tx, verified, 'step_up', ctx));
      assertions.succeeded('step_up');
      methods = passkeyAmr(verified);
      method = 'webauthn';
    } else {
      const used = await this.throttled(user.id, claims.sid, ctx, () => this.deps.mfa.check(user.id, factor, this.notice(user, ctx)));
      this.afterRecoveryCode(user, used, claims.sid, ctx);
      methods = [SECOND_FACTOR_AMR];
      method = used.method;
    }
    const session = await this.deps.sessions.raise(claims.sid, user.id, methods);
    if (!session) throw new AuthError('invalid_token', 'The access token is invalid: its session has ended');
    this.deps.auth.audit('mfa.step_up', { user_id: user.id, session_id: session.id, amr: session.amr, method }, ctx);
    const access = await this.deps.issueAccessToken({
      userId: user.id,
      sessionId: session.id,
      clientId: session.clientId,
      amr: session.amr,
      authTime: toSeconds(session.authTime.getTime()),
      roles: session.userRoles,
      idp: session.idp,
    });
    return { accessToken: access.token, expiresIn: access.expiresIn, refreshExpiresIn: this.deps.sessions.expiresIn(session, this.deps.clock.now()) };
  }

  /** A password login's second step with a passkey: the assertion, its counter and the mfa_token are used together. */
  private async verifyLoginWithPasskey(mfaToken: string, credential: AuthenticationResponseJSON, ctx: RequestContext) {
    const { assertions } = this.passkeys();
    const { challenge, user } = await this.openLogin(mfaToken, ctx);
    let verified;
    try {
      verified = await assertions.verify(credential, { purpose: 'second_factor', binding: { userId: user.id, mfaTokenHash: challenge.tokenHash }, userId: user.id, requireUserVerification: false }, ctx);
      await this.deps.mfa.redeemWith(challenge, (tx) => assertions.commit(tx, verified!, 'second_factor', ctx));
    } catch (err) {
      if (err instanceof AuthError) this.deps.metrics?.login('failed');
      throw err;
    }
    const amr = ['pwd', ...passkeyAmr(verified)];
    const session = await this.deps.sessions.create({
      userId: user.id,
      verifiedPasswordHash: user.passwordHash,
      clientId: this.deps.auth.clientId,
      remember: challenge.remember,
      amr,
      ...ctx,
    });
    if (!session) throw new AuthError('invalid_mfa_token', 'The password changed meanwhile; log in again');
    assertions.succeeded('second_factor');
    this.deps.metrics?.login('succeeded');
    this.deps.auth.audit('login.succeeded', { user_id: user.id, session_id: session.session.id, amr, method: 'webauthn', passkey_id: verified.passkey.id }, ctx);
    return { pair: await this.deps.auth.pairFor(session), delivery: challenge.tokenDelivery };
  }

  /** The login an mfa_token stands for; audited when it is not (any more) valid. */
  private async openLogin(mfaToken: string, ctx: RequestContext) {
    try {
      return await this.deps.mfa.openChallenge(mfaToken);
    } catch (err) {
      this.deps.auth.audit('mfa.failed', { user_id: null, reason: 'invalid_mfa_token', step: 'login' }, ctx);
      throw err;
    }
  }

  private passkeys(): PasskeyFactor {
    if (!this.deps.passkeys) throw new AuthError('mfa_not_enabled', 'Passkeys are not available on this server');
    return this.deps.passkeys;
  }

  private async passkeysOf(userId: string) {
    const { store, db } = this.passkeys();
    const allow = await store.listForUser(db, userId);
    if (allow.length === 0) throw new AuthError('mfa_not_enabled', 'The account has no passkey');
    return allow;
  }

  private async currentUser(claims: AccessTokenClaims): Promise<User> {
    const user = await this.deps.users.findById(claims.sub);
    if (!user || user.disabledAt) throw new AuthError('invalid_token', 'The access token is invalid: unknown user');
    return user;
  }

  /** The password again (AuthService.checkPassword: the back-off of a password change), audited when it fails. */
  private async checkPassword(user: User, password: string, field: string, claims: AccessTokenClaims, ctx: RequestContext): Promise<void> {
    try {
      await this.deps.auth.checkPassword(user, password, field);
    } catch (err) {
      const reason = err instanceof AuthError && err.code === 'rate_limited' ? 'rate_limited' : 'wrong_password';
      if (err instanceof AuthError) this.deps.auth.audit('mfa.failed', { user_id: user.id, session_id: claims.sid, reason }, ctx);
      throw err;
    }
  }

  /**
   * Runs a code check on the account's second-factor back-off: counted before (so parallel
   * guesses cannot slip past the threshold), cleared by a success. `check` answers
   * undefined for a wrong or replayed code.
   */
  private async throttled<T>(userId: string, sessionId: string | null, ctx: RequestContext, check: () => Promise<T | undefined>): Promise<T> {
    try {
      await this.deps.throttle?.beforeSecondFactor(userId);
    } catch (err) {
      this.deps.auth.audit('mfa.failed', { user_id: userId, session_id: sessionId, reason: 'rate_limited' }, ctx);
      throw err;
    }
    const result = await check();
    if (result === undefined) {
      this.deps.auth.audit('mfa.failed', { user_id: userId, session_id: sessionId, reason: 'invalid_mfa_code' }, ctx);
      throw new AuthError('invalid_mfa_code', 'The code is not correct, or was already used');
    }
    await this.deps.throttle?.secondFactorSucceeded(userId);
    return result;
  }

  /** The notice to queue with a recovery code's use, when a mailer is wired. */
  private notice(user: User, ctx: RequestContext): { onRecoveryCode?: OnRecoveryCode } {
    const notice = this.deps.recoveryCodeNotice;
    return notice ? { onRecoveryCode: (tx, left) => notice.enqueue(tx, user, left, ctx) } : {};
  }

  private afterRecoveryCode(user: User, used: SecondFactorResult, sessionId: string | null, ctx: RequestContext): void {
    if (used.method !== 'recovery_code') return;
    this.deps.auth.audit('mfa.recovery_code_used', { user_id: user.id, session_id: sessionId, recovery_codes_left: used.recoveryCodesLeft }, ctx);
    // The notice was queued with the code's use; wake this replica's drainer.
    this.deps.recoveryCodeNotice?.nudge();
  }
}
