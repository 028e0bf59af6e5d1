// "Acme": panva's oidc-provider (a certified OpenID Provider) on loopback, for end-to-end
// tests of sign-in with a provider. Its development interactions are the login page (any
// login, any password; the login is the subject); consent is pre-granted. Accounts'
// email claims come from `accounts`, and go into the ID token (Tessera reads them there).
import http from 'node:http';
import { freePort } from '../helpers/process.ts';

export interface AcmeAccount {
  email: string;
  email_verified: boolean;
}

export interface Acme {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Tessera's settings for a provider named `name` (PROVIDER_<NAME>_…). */
  env(name: string): Record<string, string>;
  close(): Promise<void>;
}

// oidc-provider ships no types: the few members used here, typed by hand.
interface GrantLike {
  addOIDCScope(scope: string): void;
  save(): Promise<string>;
}
interface ProviderCtx {
  oidc: { client: { clientId: string }; session: { accountId: string }; provider: { Grant: new (o: { clientId: string; accountId: string }) => GrantLike } };
}
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => { callback(): http.RequestListener };

export async function startAcme(options: { redirectUris: string[]; accounts: Record<string, AcmeAccount> }): Promise<Acme> {
  const specifier = 'oidc-provider';
  const { default: Provider } = (await import(specifier)) as { default: ProviderClass };
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = 'tessera-acme';
  const clientSecret = 'acme-client-secret-for-tests';
  const provider = new Provider(issuer, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: options.redirectUris, token_endpoint_auth_method: 'client_secret_post' }],
    async findAccount(_ctx: unknown, sub: string) {
      const account = options.accounts[sub] ?? { email: `${sub}@acme.test`, email_verified: false };
      return { accountId: sub, claims: async () => ({ sub, ...account }) };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    // Tessera reads the profile from the ID token, not from userinfo.
    conformIdTokenClaims: false,
    // Consent is given: the test is about Tessera's side, not Acme's consent page.
    async loadExistingGrant(ctx: ProviderCtx) {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    cookies: { keys: ['acme-cookie-key-for-tests'] },
    features: { devInteractions: { enabled: true } },
  });
  const server = http.createServer(provider.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    issuer,
    clientId,
    clientSecret,
    env: (name) => {
      const key = name.toUpperCase();
      return {
        [`PROVIDER_${key}_ISSUER`]: issuer,
        [`PROVIDER_${key}_CLIENT_ID`]: clientId,
        [`PROVIDER_${key}_CLIENT_SECRET`]: clientSecret,
        [`PROVIDER_${key}_DISPLAY_NAME`]: 'Acme',
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
