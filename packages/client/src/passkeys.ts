// Passkeys (WebAuthn) through Tessera: add one to the signed-in account, sign in with one
// (a button, or the browser's autofill), use one as the second factor of a password login
// or to step up a session, list and remove them. Tessera issues every challenge (single
// use, 5 minutes) and checks every answer; this module runs the browser's side.
import { TesseraError } from './errors.js';
import type { ClientPort, LoginResult } from './port.js';
import { conditionalMediationAvailable, createCredential, getCredential, platformCredentials, type CredentialsApi } from './webauthn.js';

export interface Passkey {
  id: string;
  name: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  /** Synced by its provider (iCloud Keychain, Google Password Manager, …): a sign-in's `amr` says `swk`. */
  backedUp: boolean;
  transports: string[];
}

export interface PasskeySignInInput {
  /** Keep the session across browser restarts. Default false. */
  remember?: boolean;
  /**
   * Offer the passkeys in the autofill of an input with `autocomplete="username webauthn"`
   * (conditional mediation) instead of a dialog: the promise settles when the user picks
   * one. Throws `passkeys_unsupported` where the browser has no such autofill (ask
   * {@link PasskeySupport.autofill} first). Another ceremony of this client aborts it
   * (`passkey_aborted`).
   */
  autofill?: boolean;
  /** Aborts the ceremony (`passkey_aborted`). */
  signal?: AbortSignal;
}

export interface PasskeySupport {
  /** WebAuthn is there (a browser, a secure context). */
  passkeys: boolean;
  /** Passkeys can be offered in a username field's autofill. */
  autofill: boolean;
}

// Tessera's challenges live 5 minutes; a browser keeps a conditional request open for as long
// as the page lives, so an idle login page takes a fresh challenge before the old one expires.
const AUTOFILL_RENEW_MS = 4 * 60_000;

export class Passkeys {
  /** The ceremony under way: the browser allows one at a time, so a new one aborts it. */
  private pending: AbortController | undefined;

  constructor(
    private readonly port: ClientPort,
    private readonly credentials: CredentialsApi | undefined,
  ) {}

  async support(): Promise<PasskeySupport> {
    const api = this.api(false);
    return { passkeys: api !== undefined, autofill: api !== undefined && (this.credentials !== undefined || (await conditionalMediationAvailable())) };
  }

  async register(input: { name?: string; signal?: AbortSignal }): Promise<Passkey> {
    const options = await this.port.call('/auth/passkeys/register/options', { bearer: await this.port.bearer() });
    const credential = await this.run(input.signal, (api, signal) => createCredential(api, options, signal));
    const body = { credential, ...(input.name ? { name: input.name } : {}) };
    return passkeyFrom(await this.port.call('/auth/passkeys/register', { body, bearer: await this.port.bearer() }));
  }

  async signIn(input: PasskeySignInInput): Promise<LoginResult> {
    if (input.autofill && !(await this.support()).autofill) {
      throw new TesseraError('passkeys_unsupported', 0, 'This browser does not offer passkeys in autofill');
    }
    for (;;) {
      const options = await this.port.call('/auth/passkeys/login/options', { body: {} });
      const renew = input.autofill ? new AbortController() : undefined;
      const timer = renew && setTimeout(() => renew.abort(), AUTOFILL_RENEW_MS);
      let credential: Record<string, unknown>;
      try {
        const signal = renew ? anySignal([renew.signal, input.signal]) : input.signal;
        credential = await this.run(signal, (api, s) => getCredential(api, options, input.autofill ? 'conditional' : undefined, s));
      } catch (err) {
        // Our own renewal (not the app, not another ceremony): ask again with a fresh challenge.
        if (renew?.signal.aborted && !input.signal?.aborted && err instanceof TesseraError && err.code === 'passkey_aborted') continue;
        throw err;
      } finally {
        clearTimeout(timer);
      }
      const body = { credential, token_delivery: this.port.delivery, remember: input.remember ?? false };
      return this.port.signIn(await this.port.call('/auth/passkeys/login', { body, credentials: true }));
    }
  }

  /** The second step of a password login that answered `mfa_required` with `webauthn` among its methods. */
  async verifyMfa(input: { mfaToken: string; signal?: AbortSignal }): Promise<LoginResult> {
    const options = await this.port.call('/auth/mfa/webauthn/options', { body: { mfa_token: input.mfaToken } });
    const credential = await this.run(input.signal, (api, signal) => getCredential(api, options, undefined, signal));
    return this.port.signIn(await this.port.call('/auth/mfa/verify', { body: { mfa_token: input.mfaToken, credential }, credentials: true }));
  }

  /** Raises the current session (fresh `auth_time`) with a passkey: the answer to an RFC 9470 challenge. */
  async stepUp(input: { signal?: AbortSignal }): Promise<void> {
    const options = await this.port.call('/auth/mfa/webauthn/options', { body: {}, bearer: await this.port.bearer() });
    const credential = await this.run(input.signal, (api, signal) => getCredential(api, options, undefined, signal));
    await this.port.signIn(await this.port.call('/auth/mfa/step-up', { body: { credential }, bearer: await this.port.bearer() }));
  }

  async list(): Promise<Passkey[]> {
    const body = await this.port.call('/auth/passkeys', { method: 'GET', bearer: await this.port.bearer() });
    return (body.passkeys as Record<string, unknown>[]).map(passkeyFrom);
  }

  async rename(id: string, name: string): Promise<Passkey> {
    return passkeyFrom(await this.port.call(`/auth/passkeys/${encodeURIComponent(id)}`, { method: 'PATCH', body: { name }, bearer: await this.port.bearer() }));
  }

  async remove(id: string): Promise<void> {
    await this.port.call(`/auth/passkeys/${encodeURIComponent(id)}`, { method: 'DELETE', bearer: await this.port.bearer(), expect: 204 });
  }

  private api(required = true): CredentialsApi | undefined {
    const api = this.credentials ?? platformCredentials();
    if (!api && required) throw new TesseraError('passkeys_unsupported', 0, 'WebAuthn is not available here (a browser on https or localhost is needed)');
    return api;
  }

  /** One ceremony at a time: a new one aborts the previous (e.g. a waiting autofill). */
  private async run<T>(signal: AbortSignal | undefined, ceremony: (api: CredentialsApi, signal: AbortSignal) => Promise<T>): Promise<T> {
    const api = this.api()!;
    this.pending?.abort();
    const controller = new AbortController();
    this.pending = controller;
    const forward = () => controller.abort();
    if (signal?.aborted) controller.abort();
    signal?.addEventListener('abort', forward, { once: true });
    try {
      return await ceremony(api, controller.signal);
    } finally {
      signal?.removeEventListener('abort', forward);
      if (this.pending === controller) this.pending = undefined;
    }
  }
}

function anySignal(signals: (AbortSignal | undefined)[]): AbortSignal {
  const controller = new AbortController();
  for (const s of signals) {
    if (!s) continue;
    if (s.aborted) controller.abort();
    else s.addEventListener('abort', () => controller.abort(), { once: true });
  }
  return controller.signal;
}

function passkeyFrom(body: Record<string, unknown>): Passkey {
  return {
    id: String(body.id),
    name: typeof body.name === 'string' ? body.name : null,
    createdAt: String(body.created_at),
    lastUsedAt: typeof body.last_used_at === 'string' ? body.last_used_at : null,
    backedUp: body.backed_up === true,
    transports: Array.isArray(body.transports) ? (body.transports as string[]) : [],
  };
}
