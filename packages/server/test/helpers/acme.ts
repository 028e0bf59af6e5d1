// "Acme": panva's oidc-provider (a certified OpenID Provider) on loopback, playing a real
// provider for the tests. Its interaction (login + consent) signs in whichever account the
// test chose with `acme.nextAccount`, so a test drives the authorization code flow with
// plain HTTP: Tessera's /start → Acme's /auth → interaction → Acme's redirect to Tessera's
// callback. ID tokens for the /id-token route are signed with the key Acme serves.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import Provider from 'oidc-provider';

export interface AcmeAccount {
  sub: string;
  email?: string;
  email_verified?: boolean;
  amr?: string[];
}

export interface Acme {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Who the next interaction signs in. */
  nextAccount: AcmeAccount;
  /** Signs an ID token with Acme's key (or another key, for the bad-signature case). */
  signIdToken(claims: Record<string, unknown>, options?: { foreignKey?: boolean; kid?: string }): Promise<string>;
  /** Env for createTestApp: PROVIDERS=acme and its variables. */
  env(extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

export async function startAcme(options: { redirectUri: string; name?: string }): Promise<Acme> {
  const name = options.name ?? 'acme';
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid: 'acme-1', alg: 'RS256', use: 'sig' };
  const foreign = (await generateKeyPair('RS256')).privateKey;
  const clientId = `tessera-${crypto.randomBytes(4).toString('hex')}`;
  const clientSecret = crypto.randomBytes(24).toString('base64url');
  const accounts = new Map<string, AcmeAccount>();
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      void finishInteraction(req, res);
      return;
    }
    provider.callback()(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const acme: Acme = {
    issuer,
    clientId,
    clientSecret,
    nextAccount: { sub: 'acme-user', email: 'acme-user@example.com', email_verified: true },
    async signIdToken(claims, opts = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: issuer, aud: clientId, iat: now, exp: now + 300, ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'acme-1' })
        .sign(opts.foreignKey ? foreign : privateKey);
    },
    env(extra = {}) {
      const p = `PROVIDER_${name.toUpperCase()}_`;
      return { PROVIDERS: name, [`${p}CLIENT_ID`]: clientId, [`${p}CLIENT_SECRET`]: clientSecret, [`${p}ISSUER`]: issuer, ...extra };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  // Declared after the server: its handler only runs once requests arrive.
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [options.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], amr: null },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx: unknown, id: string) {
      const account = accounts.get(id);
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() {
          const { amr: _amr, ...claims } = account;
          return claims;
        },
      };
    },
  });
  // Quiet: oidc-provider logs its dev-only warnings through debug, not console, by default.

  async function finishInteraction(req: http.IncomingMessage, res: http.ServerResponse) {
    try {
      const details = await provider.interactionDetails(req, res);
      const account = acme.nextAccount;
      accounts.set(account.sub, account);
      const grant = new provider.Grant({ accountId: account.sub, clientId });
      grant.addOIDCScope(String(details.params.scope));
      const grantId = await grant.save();
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId: account.sub, ...(account.amr ? { amr: account.amr } : {}) }, consent: { grantId } },
        { mergeWithLastSubmission: false },
      );
    } catch (err) {
      res.statusCode = 500;
      res.end(String(err));
    }
  }

  return acme;
}

/** A browser, just enough of one: follows redirects by hand and keeps cookies per host. */
export class Browser {
  private readonly cookies = new Map<string, Map<string, string>>();

  /** Follows redirects until one leaves for `stopAt` (a URL prefix); returns that URL. */
  async followUntil(url: string, stopAt: string, maxHops = 10): Promise<URL> {
    let current = new URL(url);
    for (let hop = 0; hop < maxHops; hop++) {
      if (current.href.startsWith(stopAt)) return current;
      const jar = this.cookies.get(current.host) ?? new Map<string, string>();
      const res = await fetch(current, {
        redirect: 'manual',
        headers: jar.size > 0 ? { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {},
      });
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const eq = pair!.indexOf('=');
        jar.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
      }
      this.cookies.set(current.host, jar);
      const location = res.headers.get('location');
      if (!location) throw new Error(`no redirect from ${current.pathname}: ${res.status} ${await res.text()}`);
      current = new URL(location, current);
    }
    throw new Error('too many redirects');
  }
}
