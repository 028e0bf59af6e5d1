// The first-party client: log in, keep a fresh access token in memory, refresh once for all
// tabs, log out. No dependencies; runs in browsers and React Native (fetch is all it needs).
import { endReasonOf, errorFrom, TesseraError, type SessionEndReason } from './errors.js';
import { OriginPolicy, secureOrigin } from './origins.js';
import { Passkeys, type Passkey, type PasskeySignInInput, type PasskeySupport } from './passkeys.js';
import type { CallOptions, ClientPort, LoginResult } from './port.js';
import { Providers, type Identity, type Provider, type ProviderResult, type ProviderSignInInput } from './providers.js';
import { Tabs, type SharedToken, type TabMessage } from './tabs.js';
import type { CredentialsApi } from './webauthn.js';

export type { LoginResult } from './port.js';

/** Where the refresh token lives with `delivery: 'body'` (e.g. Expo SecureStore, Keychain). */
export interface RefreshTokenStore {
  get(): Promise<string | null> | string | null;
  set(token: string): Promise<void> | void;
  remove(): Promise<void> | void;
}

export interface TesseraClientOptions {
  /** Tessera's base URL, e.g. `https://auth.example.com` (plain `http:` only on a loopback host). */
  baseUrl: string;
  /**
   * Origins of your APIs that `fetch()` may send the access token to, e.g.
   * `['https://api.example.com']`, besides Tessera's own. Any other origin is refused with
   * `origin_not_allowed` and nothing is sent. Plain `http:` only on a loopback host.
   */
  apiOrigins?: string[];
  /**
   * `'cookie'` (browsers, the default): the refresh token is an HttpOnly cookie this code
   * never sees. `'body'` (React Native, native apps): it is kept in `refreshTokenStore`.
   */
  delivery?: 'cookie' | 'body';
  /** Required for a refresh token that survives a restart with `delivery: 'body'`; memory otherwise. */
  refreshTokenStore?: RefreshTokenStore;
  /** Refresh this long before the access token expires (at most half its lifetime). Default 60. */
  refreshMarginSeconds?: number;
  /** Share tokens and refreshes with the app's other tabs (cookie delivery only). Default true. */
  tabs?: boolean;
  /** BroadcastChannel and lock name. Default `tessera:<baseUrl>`. */
  channelName?: string;
  /** Replaces the global fetch (tests, instrumentation). */
  fetch?: typeof globalThis.fetch;
  /** Replaces `navigator.credentials` for passkeys (tests, a WebAuthn polyfill). */
  webauthn?: CredentialsApi;
}

export interface LoginInput {
  email: string;
  password: string;
  /** Keep the session across browser restarts (a persistent cookie, the long lifetime). Default false. */
  remember?: boolean;
}

export interface ClientEvents {
  /** A new access token is in use (login, refresh, or one adopted from another tab). */
  session: SharedToken;
  /** The session is over: this client cannot get another access token without a login. */
  sessionend: { reason: SessionEndReason };
  /** A background refresh failed but the session may still be alive (network, 5xx); retried. */
  error: TesseraError;
}

/** The second factor of a login, a step-up or a removal: a TOTP `code` or one of the `recoveryCode`s. */
export interface SecondFactor {
  code?: string;
  recoveryCode?: string;
}

/** A TOTP authenticator being added: not active until {@link TesseraClient.confirmTotp}. */
/** The account's second factor (`GET /auth/mfa`). */
export interface MfaStatus {
  totp: {
    /** A confirmed authenticator exists: logins ask for a code. */
    active: boolean;
    /** Unused recovery codes (0 without an active authenticator). */
    recoveryCodesLeft: number;
  };
}

export interface TotpEnrollment {
  /** Base32, for typing into an authenticator app by hand. */
  secret: string;
  /** `otpauth://totp/…`, for a QR code. */
  otpauthUri: string;
}

interface TokenBody {
  access_token: string;
  expires_in: number;
  refresh_token?: string;
}

const RETRY_MS = 10_000;
const CSRF_HEADER = { 'X-Requested-With': 'tessera-client' };

/**
 * @example
 * ```ts
 * const auth = new TesseraClient({ baseUrl: 'https://auth.example.com' });
 * auth.on('sessionend', ({ reason }) => showLogin(reason));
 * if (!(await auth.restore())) await auth.login({ email, password, remember: true });
 * const res = await auth.fetch('https://api.example.com/profile'); // bearer added, one retry on 401
 * ```
 */
export class TesseraClient {
  private token: SharedToken | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inflight: Promise<boolean> | undefined;
  private readonly tabs: Tabs;
  private readonly listeners: { [K in keyof ClientEvents]: Set<(value: ClientEvents[K]) => void> } = {
    session: new Set(),
    sessionend: new Set(),
    error: new Set(),
  };
  private readonly baseUrl: string;
  private readonly delivery: 'cookie' | 'body';
  private readonly store: RefreshTokenStore;
  private readonly marginMs: number;
  private readonly fetchImpl: typeof globalThis.fetch;
  private readonly origins: OriginPolicy;
  private readonly passkeys: Passkeys;
  private readonly providerFlow: Providers;

  constructor(options: TesseraClientOptions) {
    const url = secureOrigin(options.baseUrl, 'baseUrl');
    this.baseUrl = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    this.origins = new OriginPolicy(url.origin, options.apiOrigins);
    this.delivery = options.delivery ?? 'cookie';
    this.store = options.refreshTokenStore ?? memoryStore();
    this.marginMs = (options.refreshMarginSeconds ?? 60) * 1000;
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.tabs = new Tabs(options.channelName ?? `tessera:${this.baseUrl}`, (options.tabs ?? true) && this.delivery === 'cookie');
    this.tabs.onMessage((message) => this.onTabMessage(message));
    const port: ClientPort = {
      baseUrl: this.baseUrl,
      delivery: this.delivery,
      call: (path, callOptions) => this.call(path, callOptions),
      bearer: () => this.requireAccessToken(),
      signIn: (body) => this.signIn(body),
    };
    this.passkeys = new Passkeys(port, options.webauthn);
    this.providerFlow = new Providers(port);
  }

  /** True while this client holds an access token. */
  get signedIn(): boolean {
    return this.token !== undefined;
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof ClientEvents>(event: K, listener: (value: ClientEvents[K]) => void): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  async login(input: LoginInput): Promise<LoginResult> {
    const body = await this.call('/auth/login', {
      body: { email: input.email, password: input.password, remember: input.remember ?? false, token_delivery: this.delivery },
      credentials: true,
    });
    return this.signIn(body);
  }

  // --- passkeys (passkeys.ts) ---------------------------------------------------------------

  /** Whether this browser does passkeys, and offers them in a username field's autofill. */
  passkeySupport(): Promise<PasskeySupport> {
    return this.passkeys.support();
  }

  /**
   * Adds a passkey to the signed-in account (the browser's dialog). Tessera asks for a recent
   * sign-in: an old session gets `insufficient_user_authentication` (step up, then retry).
   * A cancelled dialog throws `passkey_cancelled`; an authenticator that already holds one
   * for this account, `passkey_exists`.
   */
  registerPasskey(input: { name?: string; signal?: AbortSignal } = {}): Promise<Passkey> {
    return this.passkeys.register(input);
  }

  /** Signs in with a passkey: a dialog, or (`autofill: true`) the username field's autofill. */
  signInWithPasskey(input: PasskeySignInInput = {}): Promise<LoginResult> {
    return this.passkeys.signIn(input);
  }

  /** Completes a password login that answered `mfa_required` (with `webauthn` in `methods`) with a passkey. */
  async verifyMfaWithPasskey(input: { mfaToken: string; signal?: AbortSignal }): Promise<void> {
    await this.passkeys.verifyMfa(input);
  }

  /** Answers a step-up challenge with a passkey: this session gets a fresh `auth_time` (and `mfa` when the authenticator verified the user). */
  stepUpWithPasskey(input: { signal?: AbortSignal } = {}): Promise<void> {
    return this.passkeys.stepUp(input);
  }

  listPasskeys(): Promise<Passkey[]> {
    return this.passkeys.list();
  }

  renamePasskey(id: string, name: string): Promise<Passkey> {
    return this.passkeys.rename(id, name);
  }

  /** Removes a passkey (a recent sign-in is required; the last way to sign in is refused with `last_sign_in_method`). */
  deletePasskey(id: string): Promise<void> {
    return this.passkeys.remove(id);
  }

  // --- social and enterprise providers (providers.ts) ---------------------------------------

  /** The providers Tessera is configured with (`GET /auth/providers`), for a button each. */
  providers(): Promise<Provider[]> {
    return this.providerFlow.list();
  }

  /**
   * Sends the browser to the provider (PKCE: the verifier waits in this tab's sessionStorage).
   * The provider's answer lands on `redirectTo`: call {@link completeProviderSignIn} there.
   */
  signInWithProvider(name: string, input: ProviderSignInInput): Promise<{ authorizationUrl: string }> {
    return this.providerFlow.start(name, input, false);
  }

  /** As {@link signInWithProvider}, signed in: links the provider's identity to this account. */
  linkProvider(name: string, input: ProviderSignInInput): Promise<{ authorizationUrl: string }> {
    return this.providerFlow.start(name, input, true);
  }

  /**
   * On the `redirectTo` page: null when the address has no provider answer; otherwise cleans
   * the address bar, trades the code (with the verifier) and answers `signed_in`,
   * `mfa_required` or `linked`. A provider's refusal throws its `error` code.
   */
  completeProviderSignIn(url?: string): Promise<ProviderResult | null> {
    return this.providerFlow.complete(url);
  }

  /** The provider identities linked to the account. */
  identities(): Promise<Identity[]> {
    return this.providerFlow.identities();
  }

  /** Unlinks one (a recent sign-in is required; the last way to sign in is refused with `last_sign_in_method`). */
  unlinkIdentity(id: string): Promise<void> {
    return this.providerFlow.unlink(id);
  }

  // --- second factor --------------------------------------------------------------------------

  /** Completes a login that answered `mfa_required`, with a TOTP `code` or a `recoveryCode`. */
  async verifyMfa(input: { mfaToken: string } & SecondFactor): Promise<void> {
    const body = { mfa_token: input.mfaToken, ...secondFactorBody(input) };
    await this.accept((await this.call('/auth/mfa/verify', { body, credentials: true })) as unknown as TokenBody);
  }

  /**
   * Answers a step-up challenge (a resource service's 401 `insufficient_user_authentication`,
   * RFC 9470) with a fresh TOTP `code` or a `recoveryCode`. Tessera raises this session
   * (`amr` gains `otp`, `auth_time` becomes now); the new access token replaces the current
   * one here and in the other tabs. Retry the refused request afterwards.
   */
  async stepUp(input: SecondFactor): Promise<void> {
    const bearer = await this.requireAccessToken();
    await this.accept((await this.call('/auth/mfa/step-up', { body: secondFactorBody(input), bearer })) as unknown as TokenBody);
  }

  /** Whether the account has an authenticator and how many recovery codes are left (for an account page). */
  async mfaStatus(): Promise<MfaStatus> {
    const bearer = await this.requireAccessToken();
    const body = await this.call('/auth/mfa', { method: 'GET', bearer });
    const totp = body.totp as { active: boolean; recovery_codes_left: number };
    return { totp: { active: totp.active === true, recoveryCodesLeft: Number(totp.recovery_codes_left) } };
  }

  /**
   * Starts adding a TOTP authenticator (the password is asked again). Show the `secret` (for
   * typing into an app) and the `otpauthUri` (for a QR code); nothing changes for the user
   * until {@link confirmTotp} with a first code. Calling it again before that replaces the secret.
   */
  async enrollTotp(input: { password: string }): Promise<TotpEnrollment> {
    const bearer = await this.requireAccessToken();
    const body = await this.call('/auth/mfa/totp/enroll', { body: { password: input.password }, bearer });
    return { secret: String(body.secret), otpauthUri: String(body.otpauth_uri) };
  }

  /**
   * Activates the authenticator with a first code; from now on logins ask for a code. Answers
   * the ten single-use recovery codes: show them now, Tessera keeps only their hashes.
   */
  async confirmTotp(input: { code: string }): Promise<{ recoveryCodes: string[] }> {
    const bearer = await this.requireAccessToken();
    const body = await this.call('/auth/mfa/totp/confirm', { body: { code: input.code }, bearer });
    return { recoveryCodes: body.recovery_codes as string[] };
  }

  /** Removes the authenticator and its recovery codes: the password and a current `code` (or a `recoveryCode`). */
  async removeTotp(input: { password: string } & SecondFactor): Promise<void> {
    const bearer = await this.requireAccessToken();
    await this.call('/auth/mfa/totp', { method: 'DELETE', body: { password: input.password, ...secondFactorBody(input) }, bearer, expect: 204 });
  }

  /** On app start: takes another tab's token, or trades the refresh token for one. True when signed in. */
  async restore(): Promise<boolean> {
    if (this.token && !this.due(this.token)) return true;
    return this.refresh().catch(() => false);
  }

  /** The current access token (refreshed first when it is about to expire), or null when signed out. */
  async getAccessToken(): Promise<string | null> {
    if (this.token && this.due(this.token)) await this.refresh().catch(() => undefined);
    return this.token?.accessToken ?? null;
  }

  /**
   * fetch() with `Authorization: Bearer`. On a 401 it refreshes once and repeats the request
   * (so `init.body` must be re-sendable: a string, not a stream). A step-up challenge
   * (`insufficient_user_authentication`) is returned as is: a refresh cannot answer it.
   * Only Tessera's origin and the `apiOrigins` get the token: any other URL throws a
   * TesseraError `origin_not_allowed` and nothing is sent.
   */
  async fetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
    this.origins.check(input);
    const token = await this.getAccessToken();
    const response = await this.fetchImpl(input, withBearer(init, token));
    if (response.status !== 401 || token === null) return response;
    if (/insufficient_user_authentication/.test(response.headers.get('www-authenticate') ?? '')) return response;
    if (!(await this.refresh(token).catch(() => false)) || !this.token) return response;
    return this.fetchImpl(input, withBearer(init, this.token.accessToken));
  }

  /** The access token for a call that needs one; a TesseraError `invalid_token` when signed out. */
  private async requireAccessToken(): Promise<string> {
    const token = await this.getAccessToken();
    if (token === null) throw new TesseraError('invalid_token', 401, 'Not signed in');
    return token;
  }

  /** Ends this session on the server and in every tab. Local state is cleared even if the call fails. */
  async logout(): Promise<void> {
    const refreshToken = this.delivery === 'body' ? await this.store.get() : null;
    try {
      await this.call('/auth/logout', { body: refreshToken ? { refresh_token: refreshToken } : undefined, credentials: true, expect: 204 });
    } finally {
      await this.end('logout');
    }
  }

  /** Ends every session of the user (every device), then this one locally. */
  async logoutAll(): Promise<void> {
    const response = await this.fetch(`${this.baseUrl}/auth/logout-all`, { method: 'POST', credentials: 'include' });
    if (!response.ok) throw await errorFrom(response);
    await this.end('logout');
  }

  /** Stops timers and leaves the tab channel. */
  close(): void {
    clearTimeout(this.timer);
    this.tabs.close();
  }

  /** One refresh at a time in this tab, and (with tabs) in all of them. */
  private refresh(failedToken?: string): Promise<boolean> {
    this.inflight ??= this.tabs
      .exclusive(() => this.refreshOnce(failedToken), () => this.fresh(failedToken))
      .finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private fresh(failedToken?: string): boolean {
    return this.token !== undefined && this.token.accessToken !== failedToken && !this.due(this.token);
  }

  private async refreshOnce(failedToken?: string): Promise<boolean> {
    // Another tab may have refreshed while this one waited for the lock.
    if (this.fresh(failedToken)) return true;
    const fromPeer = await this.tabs.askForToken((t) => t.accessToken !== failedToken && !this.due(t));
    // The answer may also have reached onTabMessage first and been adopted there.
    if (fromPeer && fromPeer.accessToken !== this.token?.accessToken) this.adopt(fromPeer);
    if (this.fresh(failedToken)) return true;
    const refreshToken = this.delivery === 'body' ? await this.store.get() : null;
    if (this.delivery === 'body' && !refreshToken) return false;
    let body: Record<string, unknown>;
    try {
      body = await this.call('/auth/refresh', { body: refreshToken ? { refresh_token: refreshToken } : undefined, credentials: true });
    } catch (err) {
      const error = err instanceof TesseraError ? err : new TesseraError('network_error', 0, String(err));
      const reason = endReasonOf(error);
      if (reason) {
        await this.end(reason);
        return false;
      }
      if (this.token) this.schedule(Date.now() + RETRY_MS);
      throw error;
    }
    await this.accept(body as unknown as TokenBody);
    return true;
  }

  private async accept(body: TokenBody): Promise<void> {
    if (this.delivery === 'body' && body.refresh_token) await this.store.set(body.refresh_token);
    const lifetime = body.expires_in * 1000;
    const expiresAt = Date.now() + lifetime;
    const token = { accessToken: body.access_token, expiresAt, refreshAt: expiresAt - Math.min(this.marginMs, lifetime / 2) };
    this.adopt(token);
    this.tabs.post({ type: 'token', ...token });
  }

  private adopt(token: SharedToken): void {
    this.token = { ...token };
    this.schedule(token.refreshAt);
    this.emit('session', { ...token });
  }

  private schedule(at: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.refresh().catch((err: unknown) => this.emit('error', err as TesseraError));
    }, Math.max(0, at - Date.now()));
  }

  private due(token: SharedToken): boolean {
    return Date.now() >= token.refreshAt;
  }

  /** Forgets the session here and in every other tab; tells the app if it had one. */
  private async end(reason: SessionEndReason, fromPeer = false): Promise<void> {
    const had = this.token !== undefined;
    this.token = undefined;
    clearTimeout(this.timer);
    if (this.delivery === 'body') await this.store.remove();
    if (!fromPeer) this.tabs.post({ type: 'ended', reason });
    if (had) this.emit('sessionend', { reason });
  }

  private onTabMessage(message: TabMessage): void {
    const offered = message.type === 'token' ? message : message.type === 'token-reply' ? message.token : null;
    if (offered && (!this.token || offered.expiresAt > this.token.expiresAt)) {
      this.adopt({ accessToken: offered.accessToken, expiresAt: offered.expiresAt, refreshAt: offered.refreshAt });
    } else if (message.type === 'token-request') {
      // Always answered (a token or null): the asking tab waits for every peer's answer.
      const token = this.token && !this.due(this.token) ? { ...this.token } : null;
      this.tabs.post({ type: 'token-reply', requestId: message.requestId, token });
    } else if (message.type === 'ended') {
      void this.end(message.reason, true);
    }
  }

  /** A token response starts the session; a login's `mfa_required` challenge is handed back. */
  private async signIn(body: Record<string, unknown>): Promise<LoginResult> {
    if (body.mfa_required === true) {
      return { status: 'mfa_required', mfaToken: String(body.mfa_token), methods: body.methods as string[], expiresIn: Number(body.expires_in) };
    }
    await this.accept(body as unknown as TokenBody);
    return { status: 'signed_in' };
  }

  /** Sends JSON to Tessera (POST unless `method`); resolves with the JSON body, rejects with a TesseraError. */
  private async call(path: string, options: CallOptions): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { ...CSRF_HEADER };
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    if (options.bearer !== undefined) headers.Authorization = `Bearer ${options.bearer}`;
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}${path}`, {
        method: options.method ?? 'POST',
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        credentials: options.credentials && this.delivery === 'cookie' ? 'include' : 'omit',
        cache: 'no-store',
      });
    } catch (err) {
      throw new TesseraError('network_error', 0, `Tessera is unreachable: ${(err as Error).message}`);
    }
    if (!response.ok) throw await errorFrom(response);
    if (options.expect === 204 || response.status === 204) return {};
    return (await response.json()) as Record<string, unknown>;
  }

  private emit<K extends keyof ClientEvents>(event: K, value: ClientEvents[K]): void {
    for (const listener of this.listeners[event]) {
      try {
        listener(value);
      } catch {
        // A listener's bug must not break the session logic.
      }
    }
  }
}

function secondFactorBody(input: SecondFactor): Record<string, string> {
  const body: Record<string, string> = {};
  if (input.code !== undefined) body.code = input.code;
  if (input.recoveryCode !== undefined) body.recovery_code = input.recoveryCode;
  return body;
}

function withBearer(init: RequestInit, token: string | null): RequestInit {
  if (token === null) return init;
  const headers = new Headers(init.headers);
  headers.set('Authorization', `Bearer ${token}`);
  return { ...init, headers };
}

function memoryStore(): RefreshTokenStore {
  let value: string | null = null;
  return {
    get: () => value,
    set: (token) => void (value = token),
    remove: () => void (value = null),
  };
}
