// A generic OpenID Connect provider (Google, Apple, Microsoft, any issuer) through
// openid-client: discovery, PKCE + state + nonce, code exchange and ID-token validation.
// openid-client is imported lazily (registry.ts): a replica without PROVIDERS never loads it.
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type * as OpenIdClient from 'openid-client';
import crypto from 'node:crypto';
import type { Clock } from '../clock.ts';
import { AuthError } from '../errors.ts';
import { AppleClientSecret } from './apple-secret.ts';
import { isLoopbackHttp, type ProviderConfig } from './provider-config.ts';
import { asVerified, normalizeProviderEmail, providerFailure, type AuthorizationRequest, type CallbackInput, type ProviderProfile, type SignInProvider } from './provider.ts';

type Lib = typeof OpenIdClient;

const TIMEOUT_SECONDS = 10;

export class OidcProvider implements SignInProvider {
  readonly type = 'oidc' as const;
  private configuration: Promise<OpenIdClient.Configuration> | undefined;
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  private readonly appleSecret: AppleClientSecret | undefined;
  /** Read synchronously by the client-auth callback: refreshed before each token request. */
  private currentAppleSecret = '';

  constructor(
    private readonly lib: Lib,
    private readonly config: ProviderConfig,
    private readonly clock: Clock,
  ) {
    if (config.apple) this.appleSecret = new AppleClientSecret(config.apple, config.clientId, config.issuer!, clock);
  }

  get name(): string {
    return this.config.name;
  }

  get displayName(): string {
    return this.config.displayName;
  }

  async authorizationUrl(request: AuthorizationRequest): Promise<URL> {
    const configuration = await this.discovered();
    return this.lib.buildAuthorizationUrl(configuration, {
      redirect_uri: request.redirectUri,
      scope: this.config.scopes.join(' '),
      state: request.state,
      nonce: request.nonce,
      code_challenge: request.codeChallenge,
      code_challenge_method: 'S256',
      ...(this.config.responseMode === 'form_post' ? { response_mode: 'form_post' } : {}),
    });
  }

  async complete(input: CallbackInput): Promise<ProviderProfile> {
    const configuration = await this.discovered();
    const currentUrl = new URL(input.redirectUri);
    for (const [k, v] of input.params) currentUrl.searchParams.append(k, v);
    try {
      if (this.appleSecret) this.currentAppleSecret = await this.appleSecret.get();
      const tokens = await this.lib.authorizationCodeGrant(
        configuration,
        currentUrl,
        { pkceCodeVerifier: input.codeVerifier, expectedState: input.state, expectedNonce: input.nonce, idTokenExpected: true },
        { redirect_uri: input.redirectUri },
      );
      const claims = tokens.claims();
      if (!claims) throw new AuthError('provider_error', 'The provider returned no ID token');
      return profileOf(claims);
    } catch (err) {
      throw providerFailure(err);
    }
  }

  async verifyIdToken(idToken: string, nonce: string | undefined): Promise<ProviderProfile> {
    const configuration = await this.discovered();
    const metadata = configuration.serverMetadata();
    if (!metadata.jwks_uri) throw new AuthError('provider_error', 'The provider publishes no JWKS');
    this.jwks ??= createRemoteJWKSet(new URL(metadata.jwks_uri), { timeoutDuration: TIMEOUT_SECONDS * 1000 });
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(idToken, this.jwks, {
        issuer: metadata.issuer,
        audience: [this.config.clientId, ...this.config.audiences],
        currentDate: new Date(this.clock.now()),
        algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA', 'RS384', 'RS512', 'ES384', 'ES512', 'PS384', 'PS512'],
        requiredClaims: ['sub', 'exp', 'iat'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JOSEError && !(err instanceof joseErrors.JWKSTimeout)) throw new AuthError('invalid_id_token', idTokenDetail(err));
      throw providerFailure(err);
    }
    if (!nonceMatches(payload.nonce, nonce)) throw new AuthError('invalid_id_token', 'The ID token nonce does not match the nonce sent');
    return profileOf(payload);
  }

  /** Discovery once; a failure is not cached, so the next sign-in tries again. */
  private discovered(): Promise<OpenIdClient.Configuration> {
    this.configuration ??= this.discover().catch((err: unknown) => {
      this.configuration = undefined;
      throw providerFailure(err);
    });
    return this.configuration;
  }

  private async discover(): Promise<OpenIdClient.Configuration> {
    const issuer = this.config.issuer!;
    const clientAuth = this.appleSecret
      ? (_as: unknown, client: { client_id: string }, body: URLSearchParams) => {
          body.set('client_id', client.client_id);
          body.set('client_secret', this.currentAppleSecret);
        }
      : this.lib.ClientSecretPost(this.config.clientSecret);
    // http: only for a loopback issuer (provider-config.ts refuses any other).
    const execute = isLoopbackHttp(issuer) ? [this.lib.allowInsecureRequests] : [];
    return this.lib.discovery(new URL(issuer), this.config.clientId, undefined, clientAuth, { execute, timeout: TIMEOUT_SECONDS });
  }
}

function profileOf(claims: JWTPayload): ProviderProfile {
  if (typeof claims.sub !== 'string' || claims.sub === '') throw new AuthError('provider_error', 'The ID token has no subject');
  const amr = Array.isArray(claims.amr) && claims.amr.every((m) => typeof m === 'string') ? (claims.amr as string[]) : null;
  return { subject: claims.sub, email: normalizeProviderEmail(claims.email), emailVerified: asVerified(claims.email_verified), amr };
}

/**
 * The SDKs differ: Google puts the nonce the app chose in the token; Sign in with Apple
 * puts its SHA-256 (hex) when the app passed the hash to Apple. Either matches; a token
 * with a nonce needs one in the request, and one without cannot satisfy a request's.
 */
function nonceMatches(inToken: unknown, sent: string | undefined): boolean {
  if (inToken === undefined && sent === undefined) return true;
  if (typeof inToken !== 'string' || sent === undefined) return false;
  const hashed = crypto.createHash('sha256').update(sent).digest('hex');
  return safeEqual(inToken, sent) || safeEqual(inToken, hashed);
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

function idTokenDetail(err: joseErrors.JOSEError): string {
  if (err instanceof joseErrors.JWTExpired) return 'The ID token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `The ID token ${err.claim} claim is not what this provider issues for this client`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSNoMatchingKey) return 'The ID token signature does not verify with the provider keys';
  return 'The ID token is malformed or cannot be verified';
}
