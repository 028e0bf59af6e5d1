// Sign-in with a social or enterprise provider (Google, GitHub, an OpenID Provider) through
// Tessera, with the client's own PKCE (RFC 7636) on Tessera's one-time code: the browser
// goes to the provider and comes back to `redirectTo?code=…`; only the holder of the
// code_verifier (kept in this tab's sessionStorage across the redirect) can trade that code
// for a session. A code injected into someone else's address bar finds no verifier there.
import { toBase64url } from './base64url.js';
import { TesseraError } from './errors.js';
import type { ClientPort, LoginResult } from './port.js';

export interface Provider {
  name: string;
  displayName: string;
  type: 'oidc' | 'oauth2';
}

export interface Identity {
  id: string;
  provider: string;
  email: string | null;
  createdAt: string;
}

export interface ProviderSignInInput {
  /** Where the provider's answer lands (`?code=…`): a page of the app, allowed by Tessera's REDIRECT_ALLOWLIST. */
  redirectTo: string;
  /** Keep the session across browser restarts. Default false. */
  remember?: boolean;
  /** Opens the provider's page. Default `location.assign` (React Native: an in-app browser session). */
  navigate?: (authorizationUrl: string) => void | Promise<void>;
}

export type ProviderResult = LoginResult | { status: 'linked'; identity: Identity };

/** Where the verifier waits for the redirect: sessionStorage (this tab, this origin) or, without it, memory. */
interface KeyValue {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

interface Pending {
  verifier: string;
  remember: boolean;
}

const RESULT_PARAMS = ['code', 'error', 'error_description', 'state'];

export class Providers {
  private readonly storage: KeyValue;
  private readonly key: string;

  constructor(private readonly port: ClientPort) {
    this.storage = sessionStorageOrMemory();
    // One key per tab, not per baseUrl: the page that receives the redirect may reach Tessera
    // by another address than the one that started (another replica, a proxy's hostname).
    this.key = 'tessera:pkce';
  }

  async list(): Promise<Provider[]> {
    const body = await this.port.call('/auth/providers', { method: 'GET' });
    return (body.providers as Record<string, unknown>[]).map((p) => ({
      name: String(p.name),
      displayName: String(p.display_name ?? p.name),
      type: p.type === 'oauth2' ? 'oauth2' : 'oidc',
    }));
  }

  /** Starts a sign-in (`link` false) or links the provider to the signed-in account (`link` true). */
  async start(name: string, input: ProviderSignInInput, link: boolean): Promise<{ authorizationUrl: string }> {
    const verifier = toBase64url(crypto.getRandomValues(new Uint8Array(32)));
    const challenge = toBase64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    const body = { redirect_to: input.redirectTo, code_challenge: challenge, code_challenge_method: 'S256' };
    const answer = await this.port.call(`/auth/providers/${encodeURIComponent(name)}/start`, {
      body,
      ...(link ? { bearer: await this.port.bearer() } : {}),
    });
    const authorizationUrl = String(answer.authorization_url);
    const pending: Pending = { verifier, remember: input.remember ?? false };
    this.storage.setItem(this.key, JSON.stringify(pending));
    await (input.navigate ?? ((url: string) => location.assign(url)))(authorizationUrl);
    return { authorizationUrl };
  }

  /**
   * Finishes the flow on the page the provider sent the browser back to: null when the
   * address holds no answer; otherwise the address bar is cleaned first, then the code is
   * traded for a session (or the `mfa_required` challenge, or the linked identity).
   */
  async complete(url?: string): Promise<ProviderResult | null> {
    const fromPage = url === undefined;
    const address = new URL(url ?? location.href);
    const code = address.searchParams.get('code');
    const error = address.searchParams.get('error');
    const detail = address.searchParams.get('error_description');
    if (code === null && error === null) return null;
    if (fromPage) {
      // Out of the address bar and the history before anything else: the code is single use.
      for (const p of RESULT_PARAMS) address.searchParams.delete(p);
      history.replaceState(history.state, '', `${address.pathname}${address.search}${address.hash}`);
    }
    const pending = this.takePending();
    if (error !== null) {
      throw new TesseraError(error, 0, detail || error, { error, error_description: detail });
    }
    if (!pending) {
      throw new TesseraError('pkce_verifier_missing', 0, 'This tab did not start that sign-in (or already finished it): start again');
    }
    const body = await this.port.call('/auth/providers/token', {
      body: { code, code_verifier: pending.verifier, token_delivery: this.port.delivery, remember: pending.remember },
      credentials: true,
    });
    if (body.identity && typeof body.identity === 'object') return { status: 'linked', identity: identityFrom(body.identity as Record<string, unknown>) };
    return this.port.signIn(body);
  }

  async identities(): Promise<Identity[]> {
    const body = await this.port.call('/auth/identities', { method: 'GET', bearer: await this.port.bearer() });
    return (body.identities as Record<string, unknown>[]).map(identityFrom);
  }

  async unlink(id: string): Promise<void> {
    await this.port.call(`/auth/identities/${encodeURIComponent(id)}`, { method: 'DELETE', bearer: await this.port.bearer(), expect: 204 });
  }

  /** The verifier of the flow this tab started, removed as it is read: single use. */
  private takePending(): Pending | undefined {
    const raw = this.storage.getItem(this.key);
    this.storage.removeItem(this.key);
    if (!raw) return undefined;
    try {
      const value = JSON.parse(raw) as Partial<Pending>;
      return typeof value.verifier === 'string' ? { verifier: value.verifier, remember: value.remember === true } : undefined;
    } catch {
      return undefined;
    }
  }
}

function identityFrom(body: Record<string, unknown>): Identity {
  return {
    id: String(body.id),
    provider: String(body.provider),
    email: typeof body.email === 'string' ? body.email : null,
    createdAt: String(body.created_at),
  };
}

function sessionStorageOrMemory(): KeyValue {
  try {
    const storage = (globalThis as { sessionStorage?: KeyValue }).sessionStorage;
    if (storage) return storage;
  } catch {
    // A sandboxed frame throws on access: fall back to memory.
  }
  const map = new Map<string, string>();
  return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
}
