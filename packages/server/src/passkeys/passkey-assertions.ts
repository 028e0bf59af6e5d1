// Signing in with a passkey, whatever the ceremony is for: request options bound to a
// challenge, then an assertion checked in the order that makes replicas agree — the stored
// challenge consumed first (single use, exactly one replica gets it), then every
// verification step, then the counter's compare-and-set in the caller's transaction.
import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import type { AuthService, RequestContext } from '../auth-service.ts';
import type { Clock } from '../clock.ts';
import type { Db, Queryable } from '../db/db.ts';
import { AuthError } from '../errors.ts';
import type { PasskeyCeremony, PasskeyMetrics } from '../metrics/metrics.ts';
import { challengeStore, newChallenge, type ChallengeBinding, type ChallengePurpose } from './challenge-store.ts';
import type { Passkey, PasskeyStore } from './passkey-store.ts';
import { challengeOf, PasskeyRefusal, refusal, userHandleOf, type RelyingParty, type VerifiedAssertion } from './relying-party.ts';

export interface PasskeyAssertionsDeps {
  db: Db;
  clock: Clock;
  rp: RelyingParty;
  store: PasskeyStore;
  auth: Pick<AuthService, 'audit'>;
  metrics?: PasskeyMetrics;
}

/** What an assertion must be to count, besides verifying. */
export interface AssertionRules {
  purpose: ChallengePurpose;
  /** What the challenge was bound to when issued (the same values are required to consume it). */
  binding: ChallengeBinding;
  /** The account the passkey must belong to; undefined for a discoverable sign-in (taken from the credential). */
  userId?: string;
  /** Passwordless sign-in: the authenticator must have verified the user (PIN, biometrics). */
  requireUserVerification: boolean;
}

const CEREMONY: Record<ChallengePurpose, PasskeyCeremony> = {
  registration: 'registration',
  login: 'login',
  second_factor: 'second_factor',
  step_up: 'step_up',
};

/**
 * RFC 8176 methods of a passkey sign-in (docs/integrate/passkeys.md, docs/architecture.md): `swk` for a synced (backed-up) key,
 * else `hwk`; `user` (presence was tested: UP is required); `mfa` when the authenticator
 * verified the user, which makes the passkey alone a multi-factor sign-in.
 */
export function passkeyAmr(a: Pick<VerifiedAssertion, 'backedUp' | 'userVerified'>): string[] {
  return [a.backedUp ? 'swk' : 'hwk', 'user', ...(a.userVerified ? ['mfa'] : [])];
}

export class PasskeyAssertions {
  constructor(private readonly deps: PasskeyAssertionsDeps) {}

  /** Request options with a fresh challenge stored for `purpose`; `allow` empty = discoverable. */
  async options(purpose: ChallengePurpose, binding: ChallengeBinding, allow: Passkey[], userVerification: 'required' | 'preferred'): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const challenge = newChallenge();
    await challengeStore.insert(this.deps.db, { challenge, purpose, ...binding }, this.now());
    return this.deps.rp.authenticationOptions({ challenge, allow, userVerification });
  }

  /**
   * Every verification step but the counter's (see commit): the challenge (consumed here,
   * whatever follows), the credential and its owner, the userHandle, origin, RP ID hash,
   * flags, signature and backup eligibility. Refusals are audited and counted.
   */
  async verify(credential: AuthenticationResponseJSON, rules: AssertionRules, ctx: RequestContext): Promise<VerifiedAssertion> {
    const challenge = challengeOf(credential.response.clientDataJSON);
    if (!(await challengeStore.consume(this.deps.db, { challenge, purpose: rules.purpose, ...rules.binding }, this.now()))) {
      this.refused(rules.purpose, rules.userId ?? null, 'invalid_challenge', ctx);
      throw new AuthError('invalid_webauthn_challenge', 'The challenge was never issued for this, has expired or was already used; ask for new options');
    }
    try {
      const passkey = await this.deps.store.findByCredentialId(this.deps.db, credential.id);
      if (!passkey || (rules.userId !== undefined && passkey.userId !== rules.userId)) throw refusal('unknown_credential');
      // WebAuthn L3 §7.2 step 6: the userHandle, when given (always, for a discoverable
      // sign-in), must be the handle of the credential's owner — the library does not check it.
      const handle = credential.response.userHandle;
      if (rules.userId === undefined && !handle) throw refusal('user_handle_mismatch');
      if (handle && handle !== Buffer.from(userHandleOf(passkey.userId)).toString('base64url')) throw refusal('user_handle_mismatch');
      return await this.deps.rp.verifyAssertion(credential, challenge, passkey, rules.requireUserVerification);
    } catch (err) {
      if (err instanceof PasskeyRefusal) {
        this.refused(rules.purpose, rules.userId ?? null, err.reason, ctx);
        throw err.toAuthError();
      }
      throw err;
    }
  }

  /**
   * The counter's compare-and-set, in the caller's transaction (with the session it opens or
   * the mfa_token it redeems). A counter that did not move forward is refused and audited as
   * a clone (`passkey.counter_regressed`); a passkey removed meanwhile is refused too.
   */
  async commit(tx: Queryable, verified: VerifiedAssertion, purpose: ChallengePurpose, ctx: RequestContext): Promise<Passkey> {
    const { passkey } = verified;
    const used = await this.deps.store.recordUse(tx, { id: passkey.id, userId: passkey.userId, signCount: verified.signCount, backedUp: verified.backedUp, now: this.now() });
    if (used) return used;
    const current = await this.deps.store.findById(tx, passkey.id);
    if (!current) {
      this.refused(purpose, passkey.userId, 'unknown_credential', ctx);
      throw refusal('unknown_credential').toAuthError();
    }
    this.deps.metrics?.passkey(CEREMONY[purpose], 'counter_regressed');
    this.deps.auth.audit(
      'passkey.counter_regressed',
      { user_id: passkey.userId, passkey_id: passkey.id, stored_count: current.signCount, presented_count: verified.signCount, ceremony: purpose },
      ctx,
    );
    throw refusal('counter_regressed').toAuthError();
  }

  succeeded(purpose: ChallengePurpose): void {
    this.deps.metrics?.passkey(CEREMONY[purpose], 'succeeded');
  }

  refused(purpose: ChallengePurpose, userId: string | null, reason: string, ctx: RequestContext): void {
    this.deps.metrics?.passkey(CEREMONY[purpose], 'refused');
    this.deps.auth.audit('passkey.refused', { user_id: userId, ceremony: purpose, reason }, ctx);
  }

  private now(): Date {
    return new Date(this.deps.clock.now());
  }
}
