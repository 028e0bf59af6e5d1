// GitHub: plain OAuth 2.0 (no ID token). The user is GET /user (its numeric id is the
// subject); the email is the primary one from GET /user/emails, verified only when GitHub
// says so. state and PKCE (GitHub supports S256) protect the code; there is no nonce.
import { AuthError } from '../errors.ts';
import type { OAuth2Endpoints, ProviderConfig } from './provider-config.ts';
import { normalizeProviderEmail, providerFailure, type AuthorizationRequest, type CallbackInput, type ProviderProfile, type SignInProvider } from './provider.ts';

const TIMEOUT_MS = 10_000;

interface GitHubEmail {
  email?: unknown;
  primary?: unknown;
  verified?: unknown;
}

export class GitHubProvider implements SignInProvider {
  readonly type = 'oauth2' as const;
  private readonly endpoints: OAuth2Endpoints;

  constructor(private readonly config: ProviderConfig) {
    this.endpoints = config.oauth2!;
  }

  get name(): string {
    return this.config.name;
  }

  get displayName(): string {
    return this.config.displayName;
  }

  async authorizationUrl(request: AuthorizationRequest): Promise<URL> {
    const url = new URL(this.endpoints.authorizationUrl);
    url.search = new URLSearchParams({
      client_id: this.config.clientId,
      redirect_uri: request.redirectUri,
      scope: this.config.scopes.join(' '),
      state: request.state,
      code_challenge: request.codeChallenge,
      code_challenge_method: 'S256',
      allow_signup: 'true',
    }).toString();
    return url;
  }

  async complete(input: CallbackInput): Promise<ProviderProfile> {
    // The caller found the flow by this state; a different one here is a forged answer.
    if (input.params.get('state') !== input.state) throw new AuthError('provider_error', 'state mismatch');
    const code = input.params.get('code');
    if (!code) throw new AuthError('provider_error', 'The provider sent no code');
    try {
      const token = await this.json<{ access_token?: unknown; error?: unknown }>(this.endpoints.tokenUrl, {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: this.config.clientId,
          client_secret: this.config.clientSecret ?? '',
          code,
          redirect_uri: input.redirectUri,
          code_verifier: input.codeVerifier,
        }).toString(),
      });
      // GitHub answers a refused code with 200 and {error: "bad_verification_code"}.
      if (typeof token.access_token !== 'string') throw new AuthError('provider_error', 'The provider refused the code');
      const auth = { accept: 'application/vnd.github+json', authorization: `Bearer ${token.access_token}`, 'x-github-api-version': '2022-11-28' };
      const user = await this.json<{ id?: unknown }>(`${this.endpoints.apiUrl}/user`, { headers: auth });
      if (typeof user.id !== 'number' && typeof user.id !== 'string') throw new AuthError('provider_error', 'The provider gave no user id');
      const emails = await this.json<GitHubEmail[]>(`${this.endpoints.apiUrl}/user/emails`, { headers: auth });
      const primary = Array.isArray(emails) ? emails.find((e) => e.primary === true && e.verified === true) : undefined;
      return { subject: String(user.id), email: normalizeProviderEmail(primary?.email), emailVerified: primary !== undefined, amr: null };
    } catch (err) {
      throw providerFailure(err);
    }
  }

  private async json<T>(url: string, init: RequestInit): Promise<T> {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (response.status >= 500) throw Object.assign(new Error('provider unavailable'), { status: response.status });
    if (!response.ok) throw new AuthError('provider_error', 'The provider refused the request');
    return (await response.json()) as T;
  }
}
