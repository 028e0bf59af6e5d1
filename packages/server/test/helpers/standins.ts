// Stand-ins for GitHub and Sign in with Apple, following the providers' documented
// responses: GitHub's OAuth endpoints, /user and /user/emails; Apple's discovery, JWKS,
// form_post authorization and a token endpoint that checks the JWT client secret.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportPKCS8, generateKeyPair, importSPKI, jwtVerify, SignJWT, type CryptoKey } from 'jose';

interface Server {
  url: string;
  close(): Promise<void>;
}

async function serve(handler: (req: http.IncomingMessage, url: URL, body: URLSearchParams) => Promise<{ status?: number; json?: unknown; location?: string }>): Promise<Server> {
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      handler(req, url, new URLSearchParams(raw))
        .then((out) => {
          if (out.location) res.writeHead(302, { location: out.location }).end();
          else res.writeHead(out.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify(out.json ?? {}));
        })
        .catch((err: unknown) => res.writeHead(500).end(String(err)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const s256 = (v: string) => crypto.createHash('sha256').update(v).digest('base64url');

export interface GitHubStandIn extends Server {
  user: { id: number; login: string };
  emails: { email: string; primary: boolean; verified: boolean; visibility: string | null }[];
  env(): Record<string, string>;
}

export async function startGitHub(): Promise<GitHubStandIn> {
  const clientId = 'Iv1.standin';
  const clientSecret = crypto.randomBytes(20).toString('hex');
  const codes = new Map<string, string>();
  const tokens = new Set<string>();
  const state: Pick<GitHubStandIn, 'user' | 'emails'> = { user: { id: 583231, login: 'octocat' }, emails: [] };
  const server = await serve(async (req, url, body) => {
    if (url.pathname === '/login/oauth/authorize') {
      const code = crypto.randomBytes(10).toString('hex');
      codes.set(code, url.searchParams.get('code_challenge') ?? '');
      const back = new URL(url.searchParams.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state')!);
      return { location: back.href };
    }
    if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
      const challenge = codes.get(body.get('code') ?? '');
      codes.delete(body.get('code') ?? '');
      // GitHub answers 200 with an error member, not a 4xx.
      if (body.get('client_id') !== clientId || body.get('client_secret') !== clientSecret) return { json: { error: 'incorrect_client_credentials' } };
      if (challenge === undefined || s256(body.get('code_verifier') ?? '') !== challenge) return { json: { error: 'bad_verification_code' } };
      const token = `gho_${crypto.randomBytes(16).toString('hex')}`;
      tokens.add(token);
      return { json: { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' } };
    }
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (!tokens.has(token)) return { status: 401, json: { message: 'Bad credentials' } };
    if (url.pathname === '/user') return { json: { ...state.user, type: 'User' } };
    if (url.pathname === '/user/emails') return { json: state.emails };
    return { status: 404, json: { message: 'Not Found' } };
  });
  return Object.assign(state, {
    ...server,
    env: () => ({
      PROVIDERS: 'github',
      PROVIDER_GITHUB_CLIENT_ID: clientId,
      PROVIDER_GITHUB_CLIENT_SECRET: clientSecret,
      PROVIDER_GITHUB_AUTHORIZATION_URL: `${server.url}/login/oauth/authorize`,
      PROVIDER_GITHUB_TOKEN_URL: `${server.url}/login/oauth/access_token`,
      PROVIDER_GITHUB_API_URL: server.url,
    }),
  });
}

export interface AppleStandIn extends Server {
  teamId: string;
  keyId: string;
  privateKeyPem: string;
  clientId: string;
  /** Client secrets the token endpoint accepted or refused, with why. */
  secretChecks: string[];
  account: { sub: string; email: string; email_verified: string };
}

export async function startApple(): Promise<AppleStandIn> {
  const teamId = 'TEAM123456';
  const keyId = 'KEY7654321';
  const clientId = 'com.example.web';
  const clientKey = await generateKeyPair('ES256', { extractable: true });
  const privateKeyPem = await exportPKCS8(clientKey.privateKey);
  const publicKey = await importSPKI(await exportSpki(clientKey.publicKey), 'ES256');
  const signing = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(signing.publicKey)), kid: 'apple-1', alg: 'RS256', use: 'sig' };
  const pending = new Map<string, { nonce: string; challenge: string }>();
  const secretChecks: string[] = [];
  const account = { sub: '001234.abcdef.1234', email: 'relay@privaterelay.appleid.com', email_verified: 'true' };
  let issuer = '';
  const server = await serve(async (req, url, body) => {
    if (url.pathname === '/.well-known/openid-configuration') {
      return {
        json: {
          issuer,
          authorization_endpoint: `${issuer}/auth/authorize`,
          token_endpoint: `${issuer}/auth/token`,
          jwks_uri: `${issuer}/auth/keys`,
          response_types_supported: ['code'],
          response_modes_supported: ['query', 'fragment', 'form_post'],
          subject_types_supported: ['pairwise'],
          id_token_signing_alg_values_supported: ['RS256'],
          scopes_supported: ['openid', 'email', 'name'],
          token_endpoint_auth_methods_supported: ['client_secret_post'],
        },
      };
    }
    if (url.pathname === '/auth/keys') return { json: { keys: [jwk] } };
    if (url.pathname === '/auth/authorize') {
      // Apple posts the answer to redirect_uri (form_post); the test plays the browser's post.
      if (url.searchParams.get('response_mode') !== 'form_post') return { status: 400, json: { error: 'invalid_request' } };
      const code = crypto.randomBytes(10).toString('hex');
      pending.set(code, { nonce: url.searchParams.get('nonce')!, challenge: url.searchParams.get('code_challenge')! });
      return { json: { form_post_to: url.searchParams.get('redirect_uri'), code, state: url.searchParams.get('state') } };
    }
    if (url.pathname === '/auth/token' && req.method === 'POST') {
      try {
        const { payload, protectedHeader } = await jwtVerify(body.get('client_secret') ?? '', publicKey, { issuer: teamId, subject: clientId, audience: issuer, algorithms: ['ES256'] });
        if (protectedHeader.kid !== keyId || typeof payload.exp !== 'number') throw new Error('kid/exp');
        secretChecks.push('accepted');
      } catch (err) {
        secretChecks.push(`refused: ${String(err)}`);
        return { status: 400, json: { error: 'invalid_client' } };
      }
      const flow = pending.get(body.get('code') ?? '');
      pending.delete(body.get('code') ?? '');
      if (!flow || s256(body.get('code_verifier') ?? '') !== flow.challenge) return { status: 400, json: { error: 'invalid_grant' } };
      const now = Math.floor(Date.now() / 1000);
      const idToken = await new SignJWT({ ...account, nonce: flow.nonce, is_private_email: 'true', auth_time: now, nonce_supported: true })
        .setProtectedHeader({ alg: 'RS256', kid: 'apple-1' })
        .setIssuer(issuer)
        .setAudience(clientId)
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(signing.privateKey);
      return { json: { access_token: 'a.apple', token_type: 'Bearer', expires_in: 3600, refresh_token: 'r.apple', id_token: idToken } };
    }
    return { status: 404 };
  });
  issuer = server.url;
  return { ...server, teamId, keyId, privateKeyPem, clientId, secretChecks, account };
}

async function exportSpki(key: CryptoKey): Promise<string> {
  const { exportSPKI } = await import('jose');
  return exportSPKI(key);
}
