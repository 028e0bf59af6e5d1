// The passkey use cases the routes call, one method per endpoint: registration, the list,
// renaming and removal (the user's and the operator's), and passwordless sign-in. A passkey
// sign-in is a session like any other (SessionService): refresh rotation, logout everywhere
// and the revocation feed work on it unchanged.
import crypto from 'node:crypto';
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON, AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { AuthService, RequestContext, TokenPair } from '../auth-service.ts';
import { voidMailedLinks } from '../account/mail-links.ts';
import { requireRecentSignIn } from '../users/recent-sign-in.ts';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/db.ts';
import { AuthError } from '../errors.ts';
import type { AuthMetrics, PasskeyMetrics } from '../metrics/metrics.ts';
import type { SessionService } from '../sessions/session-service.ts';
import { countSignInMethods, signInMethods } from '../users/sign-in-methods.ts';
import { userStore, type User } from '../users/user-store.ts';
import type { AccessTokenClaims } from '@tessera/verifier';
import { challengeStore, newChallenge } from './challenge-store.ts';
import { passkeyAmr, type PasskeyAssertions } from './passkey-assertions.ts';
import type { Passkey, PasskeyStore } from './passkey-store.ts';
import { challengeOf, PasskeyRefusal, refusal, TRANSPORTS, type RelyingParty } from './relying-party.ts';


export const DEFAULT_PASSKEY_NAME = 'Passkey';

export interface PasskeyView {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
  backed_up: boolean;
  transports: string[];
}

export const toPasskeyView = (p: Passkey): PasskeyView => ({
  id: p.id,
  name: p.name,
  created_at: p.createdAt.toISOString(),
  last_used_at: p.lastUsedAt?.toISOString() ?? null,
  backed_up: p.backedUp,
  transports: p.transports,
});

/** Who removes a passkey: the user, or an operator (admin API), for the audit line. */
export type RemovedBy = { by: 'user'; sessionId: string } | { by: 'admin'; adminClient: string };

export interface PasskeyServiceDeps {
  db: Db;
  clock: Clock;
  rp: RelyingParty;
  store: PasskeyStore;
  assertions: PasskeyAssertions;
  sessions: SessionService;
  auth: Pick<AuthService, 'audit' | 'pairFor' | 'clientId'>;
  metrics?: AuthMetrics & PasskeyMetrics;
}

export class PasskeyService {
  constructor(private readonly deps: PasskeyServiceDeps) {}

  /** Creation options for the signed-in user; their passkeys are excluded (no second registration of one authenticator). */
  async registrationOptions(claims: AccessTokenClaims): Promise<PublicKeyCredentialCreationOptionsJSON> {
    this.requireRecentSignIn(claims);
    const user = await this.currentUser(claims);
    const challenge = newChallenge();
    await challengeStore.insert(this.deps.db, { challenge, purpose: 'registration', userId: user.id }, this.now());
    const exclude = await this.deps.store.listForUser(this.deps.db, user.id);
    return this.deps.rp.registrationOptions({ challenge, userId: user.id, userName: user.email, exclude });
  }

  async register(claims: AccessTokenClaims, credential: RegistrationResponseJSON, name: string | undefined, ctx: RequestContext): Promise<PasskeyView> {
    const user = await this.currentUser(claims);
    const challenge = challengeOf(credential.response.clientDataJSON);
    if (!(await challengeStore.consume(this.deps.db, { challenge, purpose: 'registration', userId: user.id }, this.now()))) {
      this.deps.assertions.refused('registration', user.id, 'invalid_challenge', ctx);
      throw new AuthError('invalid_webauthn_challenge', 'The challenge was never issued for this, has expired or was already used; ask for new options');
    }
    try {
      const verified = await this.deps.rp.verifyRegistration(credential, challenge);
      const passkey: Passkey = {
        id: crypto.randomUUID(),
        userId: user.id,
        credentialId: verified.credentialId,
        publicKey: verified.publicKey,
        signCount: verified.signCount,
        backupEligible: verified.backupEligible,
        backedUp: verified.backedUp,
        transports: (credential.response.transports ?? []).filter((t) => TRANSPORTS.includes(t)),
        aaguid: verified.aaguid,
        name: name ?? DEFAULT_PASSKEY_NAME,
        createdAt: this.now(),
        lastUsedAt: null,
      };
      // WebAuthn L3 §7.1 step 26: a credential id registered already, to anyone, is refused (one INSERT decides).
      if ((await this.deps.store.insert(this.deps.db, passkey)) === 'duplicate') throw refusal('duplicate_credential');
      this.deps.assertions.succeeded('registration');
      this.deps.auth.audit('passkey.registered', { user_id: user.id, session_id: claims.sid, passkey_id: passkey.id, aaguid: passkey.aaguid, backed_up: passkey.backedUp }, ctx);
      return toPasskeyView(passkey);
    } catch (err) {
      if (!(err instanceof PasskeyRefusal)) throw err;
      this.deps.assertions.refused('registration', user.id, err.reason, ctx);
      throw err.toAuthError();
    }
  }

  async list(claims: AccessTokenClaims): Promise<PasskeyView[]> {
    const user = await this.currentUser(claims);
    return (await this.deps.store.listForUser(this.deps.db, user.id)).map(toPasskeyView);
  }

  async rename(claims: AccessTokenClaims, passkeyId: string, name: string, ctx: RequestContext): Promise<PasskeyView> {
    const user = await this.currentUser(claims);
    const renamed = await this.deps.store.rename(this.deps.db, passkeyId, user.id, name);
    if (!renamed) throw new AuthError('not_found', 'No such passkey');
    this.deps.auth.audit('passkey.renamed', { user_id: user.id, session_id: claims.sid, passkey_id: passkeyId }, ctx);
    return toPasskeyView(renamed);
  }

  /** The user removes one of their passkeys: a recent sign-in, and never the last way to sign in. */
  async remove(claims: AccessTokenClaims, passkeyId: string, ctx: RequestContext): Promise<void> {
    this.requireRecentSignIn(claims);
    const user = await this.currentUser(claims);
    await this.removeOf(user.id, passkeyId, { by: 'user', sessionId: claims.sid }, ctx);
  }

  /** The admin API's list: any user's passkeys (404 for an unknown user). */
  async listOf(userId: string): Promise<PasskeyView[]> {
    if (!(await userStore.findById(this.deps.db, userId))) throw new AuthError('not_found', 'No such user');
    return (await this.deps.store.listForUser(this.deps.db, userId)).map(toPasskeyView);
  }

  /**
   * Removes a passkey of `userId` under the user's row lock, so that two removals racing on
   * two replicas cannot together take away the last way to sign in (409 last_sign_in_method).
   * A passkey removed is a credential change, treated as the removal of a second factor is
   * (MfaService.remove): the passkey, the logins waiting for it and the user's mailed links go;
   * sessions stay.
   */
  async removeOf(userId: string, passkeyId: string, removedBy: RemovedBy, ctx: RequestContext): Promise<void> {
    const outcome = await this.deps.db.transaction(async (tx) => {
      if (!(await userStore.lockById(tx, userId))) return 'not_found' as const;
      const passkey = await this.deps.store.findById(tx, passkeyId);
      if (!passkey || passkey.userId !== userId) return 'not_found' as const;
      if (countSignInMethods(await signInMethods(tx, userId)) <= 1) return 'last' as const;
      await this.deps.store.remove(tx, passkeyId, userId);
      // The ceremonies under way for this account end with it (a new options call starts afresh),
      // and so do the links mailed to it: a removed factor is a credential change (issue 19).
      await challengeStore.removeForUser(tx, userId);
      await voidMailedLinks(tx, userId, this.now(), 'second_factor_removed');
      return 'removed' as const;
    });
    if (outcome === 'not_found') throw new AuthError('not_found', 'No such passkey');
    if (outcome === 'last') {
      throw new AuthError('last_sign_in_method', 'This passkey is the last way to sign in to the account; add a password or another passkey first');
    }
    const who = removedBy.by === 'user' ? { session_id: removedBy.sessionId, by: 'user' } : { by: 'admin', admin_client: removedBy.adminClient };
    this.deps.auth.audit('passkey.removed', { user_id: userId, passkey_id: passkeyId, ...who }, ctx);
  }

  /** Discoverable sign-in: no user known yet, so no allowCredentials; the authenticator must verify the user. */
  loginOptions(): Promise<PublicKeyCredentialRequestOptionsJSON> {
    return this.deps.assertions.options('login', {}, [], 'required');
  }

  /** Passwordless sign-in: the assertion, its counter and a new session, atomically. */
  async login(credential: AuthenticationResponseJSON, options: { remember: boolean }, ctx: RequestContext): Promise<TokenPair> {
    const { assertions } = this.deps;
    const verified = await assertions.verify(credential, { purpose: 'login', binding: {}, requireUserVerification: true }, ctx);
    const amr = passkeyAmr(verified);
    const opened = await this.deps.sessions.createWithProof(
      { userId: verified.passkey.userId, clientId: this.deps.auth.clientId, remember: options.remember, amr, ...ctx },
      async (tx) => Boolean(await assertions.commit(tx, verified, 'login', ctx)),
    );
    if (!opened) {
      // The account was disabled or deleted since the passkey was read.
      assertions.refused('login', verified.passkey.userId, 'account_unavailable', ctx);
      throw new AuthError('invalid_passkey', 'This passkey cannot sign in to its account');
    }
    assertions.succeeded('login');
    this.deps.metrics?.login('succeeded');
    this.deps.auth.audit('passkey.login', { user_id: opened.session.userId, session_id: opened.session.id, passkey_id: verified.passkey.id, amr }, ctx);
    return this.deps.auth.pairFor(opened);
  }

  /** RFC 9470: managing passkeys needs a sign-in (auth_time) within the last 10 minutes. */
  private requireRecentSignIn(claims: AccessTokenClaims): void {
    requireRecentSignIn(claims, this.deps.clock.now());
  }

  private async currentUser(claims: AccessTokenClaims): Promise<User> {
    const user = await userStore.findById(this.deps.db, claims.sub);
    if (!user || user.disabledAt) throw new AuthError('invalid_token', 'The access token is invalid: unknown user');
    return user;
  }

  private now(): Date {
    return new Date(this.deps.clock.now());
  }
}
