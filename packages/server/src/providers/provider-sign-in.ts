// Social sign-in, one method per route: start → (provider) → callback → token, and the
// native ID-token sign-in. The client's own PKCE protects Tessera's one-time code, as in
// supabase/auth's PKCE flow, so SPAs and native apps use the same flow.
import crypto from 'node:crypto';
import type { AuthService, RequestContext, TokenPair } from '../auth-service.ts';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/db.ts';
import { AuthError } from '../errors.ts';
import type { MfaRequired, MfaService } from '../mfa/mfa-service.ts';
import type { SessionService } from '../sessions/session-service.ts';
import { userStore } from '../users/user-store.ts';
import { digest, flowStore, randomSecret } from './flow-store.ts';
import { identityStore } from './identity-store.ts';
import type { IdentityLinker, Resolution } from './linking.ts';
import type { ProviderMetrics } from './provider-metrics.ts';
import type { ProviderProfile } from './provider.ts';
import { allowedRedirect, type AllowedPrefix } from './redirect-allowlist.ts';
import type { ProviderRegistry, ProviderSummary } from './registry.ts';

export interface ProviderSignInDeps {
  db: Db;
  clock: Clock;
  registry: ProviderRegistry;
  linker: IdentityLinker;
  auth: AuthService;
  sessions: SessionService;
  mfa: Pick<MfaService, 'challengeFor'>;
  metrics: ProviderMetrics;
  /** Tessera's public URL (ISSUER): the callback registered at each provider is under it. */
  issuer: string;
  allowlist: readonly AllowedPrefix[];
}

export interface StartInput {
  redirect_to: string;
  code_challenge: string;
}

export interface SignInOptions {
  remember: boolean;
  tokenDelivery: 'body' | 'cookie';
}

export interface IdentityView {
  id: string;
  provider: string;
  email: string | null;
  created_at: string;
}

export type SignInResult = TokenPair | MfaRequired;

export class ProviderSignIn {
  constructor(private readonly deps: ProviderSignInDeps) {}

  providers(): ProviderSummary[] {
    return this.deps.registry.list();
  }

  /** The provider's authorization URL; nothing is stored or sent before redirect_to passes the allow-list. */
  async start(name: string, input: StartInput, linkUserId: string | undefined): Promise<{ authorization_url: string }> {
    const provider = this.deps.registry.get(name);
    const redirectTo = allowedRedirect(input.redirect_to, this.deps.allowlist);
    if (!redirectTo) {
      throw new AuthError('redirect_not_allowed', 'redirect_to is not in REDIRECT_ALLOWLIST', { errors: [{ field: 'redirect_to', message: 'is not allowed' }] });
    }
    const state = randomSecret();
    const nonce = randomSecret();
    const codeVerifier = randomSecret();
    // Asked first: a provider that is down costs nothing stored.
    const url = await provider.authorizationUrl({ redirectUri: this.callbackUrl(name), state, nonce, codeChallenge: s256(codeVerifier) });
    const now = new Date(this.deps.clock.now());
    await flowStore.purgeExpired(this.deps.db, now, 100);
    await flowStore.insertFlow(
      this.deps.db,
      state,
      { provider: name, nonce, codeVerifier, redirectTo: redirectTo.href, codeChallenge: input.code_challenge, linkUserId: linkUserId ?? null, createdAt: now },
      now,
    );
    return { authorization_url: url.href };
  }

  /**
   * The provider's redirect. Answers the URL to send the browser to: redirect_to with a
   * one-time code, or with ?error=<code>. An unknown state has no trusted redirect_to:
   * invalid_state is thrown and answered as a plain problem.
   */
  async callback(name: string, params: URLSearchParams, ctx: RequestContext): Promise<string> {
    const state = params.get('state');
    const flow = state ? await flowStore.takeFlow(this.deps.db, state, new Date(this.deps.clock.now())) : undefined;
    if (!state || !flow || flow.provider !== name) throw new AuthError('invalid_state', 'Unknown, used or expired state; start the sign-in again');
    const back = (query: Record<string, string>) => {
      const url = new URL(flow.redirectTo);
      for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
      return url.href;
    };
    try {
      const providerError = params.get('error');
      if (providerError !== null) {
        throw providerError === 'access_denied'
          ? new AuthError('access_denied', 'The sign-in was cancelled or denied at the provider')
          : new AuthError('provider_error', 'The provider answered with an error');
      }
      const provider = this.deps.registry.get(name);
      const profile = await provider.complete({ redirectUri: this.callbackUrl(name), params, state, nonce: flow.nonce, codeVerifier: flow.codeVerifier });
      const resolution = flow.linkUserId ? await this.deps.linker.link(name, profile, flow.linkUserId) : await this.deps.linker.resolve(name, profile);
      this.recordLink(name, resolution, ctx, flow.linkUserId !== null);
      if (!flow.linkUserId && resolution.user.disabledAt) throw new AuthError('account_disabled', 'This account is disabled');
      const code = randomSecret();
      await flowStore.insertCode(
        this.deps.db,
        code,
        {
          provider: name,
          codeChallenge: flow.codeChallenge,
          userId: resolution.user.id,
          identityId: flow.linkUserId ? resolution.identity.id : null,
          amr: profile.amr,
        },
        new Date(this.deps.clock.now()),
      );
      return back({ code });
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      this.refused(name, err.code, ctx);
      return back({ error: err.code, error_description: err.detail });
    }
  }

  /** The one-time code and the verifier of the challenge given at start. */
  async redeem(
    input: { code: string; code_verifier: string },
    options: SignInOptions,
    ctx: RequestContext,
  ): Promise<SignInResult | { identity: IdentityView }> {
    const taken = await flowStore.takeCode(this.deps.db, input.code, new Date(this.deps.clock.now()));
    if (!taken || !safeEqual(s256(input.code_verifier), taken.codeChallenge)) {
      this.deps.auth.audit('provider.refused', { user_id: null, provider: taken?.provider ?? null, reason: 'invalid_grant' }, ctx);
      throw new AuthError('invalid_grant', 'The code is invalid, expired or already used, or code_verifier does not match');
    }
    if (taken.identityId) {
      const identity = await identityStore.findById(this.deps.db, taken.identityId);
      if (!identity) throw new AuthError('invalid_grant', 'The linked identity was removed meanwhile');
      return { identity: view(identity) };
    }
    return this.signIn(taken.provider, taken.userId, taken.amr, options, ctx);
  }

  /** A native SDK's ID token (Sign in with Apple, Google): verified, then the same linking rules. */
  async idToken(name: string, input: { id_token: string; nonce?: string | undefined }, options: SignInOptions, ctx: RequestContext): Promise<SignInResult> {
    const provider = this.deps.registry.get(name);
    if (!provider.verifyIdToken) throw new AuthError('unknown_provider', 'This provider has no ID tokens (plain OAuth 2.0)');
    let profile: ProviderProfile;
    let resolution: Resolution;
    try {
      profile = await provider.verifyIdToken(input.id_token, input.nonce);
      resolution = await this.deps.linker.resolve(name, profile);
    } catch (err) {
      if (err instanceof AuthError) this.refused(name, err.code, ctx);
      throw err;
    }
    this.recordLink(name, resolution, ctx, false);
    return this.signIn(name, resolution.user.id, profile.amr, options, ctx);
  }

  async listIdentities(userId: string): Promise<IdentityView[]> {
    return (await identityStore.listForUser(this.deps.db, userId)).map(view);
  }

  private async signIn(provider: string, userId: string, amr: string[] | null, options: SignInOptions, ctx: RequestContext): Promise<SignInResult> {
    const user = await userStore.findById(this.deps.db, userId);
    if (!user || user.disabledAt) {
      this.refused(provider, 'account_disabled', ctx, userId);
      throw new AuthError('account_disabled', 'This account is disabled');
    }
    const challenge = await this.deps.mfa.challengeFor({
      userId,
      passwordHash: user.passwordHash,
      remember: options.remember,
      tokenDelivery: options.tokenDelivery,
      provider: { amr: amr ?? [], idp: provider },
    });
    if (challenge) {
      this.deps.metrics.signIns.inc({ provider, outcome: 'mfa_required' });
      this.deps.auth.audit('login.mfa_required', { user_id: userId, provider }, ctx);
      return challenge;
    }
    const opened = await this.deps.sessions.create({
      userId,
      verifiedPasswordHash: user.passwordHash,
      clientId: this.deps.auth.clientId,
      remember: options.remember,
      amr: amr ?? [],
      idp: provider,
      ...ctx,
    });
    // Disabled, or the password changed, between the read and the insert: sign in again.
    if (!opened) {
      this.refused(provider, 'account_disabled', ctx, userId);
      throw new AuthError('account_disabled', 'The account changed during the sign-in; sign in again');
    }
    this.deps.metrics.signIns.inc({ provider, outcome: 'succeeded' });
    this.deps.auth.audit('provider.login', { user_id: userId, session_id: opened.session.id, provider, amr: opened.session.amr }, ctx);
    return this.deps.auth.pairFor(opened);
  }

  private recordLink(provider: string, resolution: Resolution, ctx: RequestContext, byUser: boolean): void {
    if (resolution.outcome === 'existing') return;
    if (resolution.outcome === 'created') this.deps.auth.audit('user.registered', { user_id: resolution.user.id, provider }, ctx);
    this.deps.metrics.identityChanges.inc({ provider, change: 'linked' });
    const how = byUser ? 'user' : resolution.outcome === 'created' ? 'new_account' : 'verified_email';
    this.deps.auth.audit('identity.linked', { user_id: resolution.user.id, provider, identity_id: resolution.identity.id, by: how }, ctx);
  }

  private refused(provider: string, reason: string, ctx: RequestContext, userId: string | null = null): void {
    this.deps.metrics.signIns.inc({ provider, outcome: reason });
    this.deps.auth.audit('provider.refused', { user_id: userId, provider, reason }, ctx);
  }

  private callbackUrl(name: string): string {
    return `${this.deps.issuer}/auth/providers/${name}/callback`;
  }
}

const s256 = (verifier: string): string => crypto.createHash('sha256').update(verifier).digest('base64url');

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(digest(a));
  const y = Buffer.from(digest(b));
  return crypto.timingSafeEqual(x, y);
}

const view = (i: { id: string; provider: string; email: string | null; createdAt: Date }): IdentityView => ({
  id: i.id,
  provider: i.provider,
  email: i.email,
  created_at: i.createdAt.toISOString(),
});
