// PROVIDERS and the PROVIDER_<NAME>_* family: dynamic variable names, so they are read here
// rather than in config.ts's static schema. A misconfigured provider stops the start with a
// message naming the variable, never its value (client secrets and keys live here).
import fs from 'node:fs';

export type ProviderType = 'oidc' | 'oauth2';

export interface AppleKey {
  teamId: string;
  keyId: string;
  /** PKCS#8 PEM of the Sign in with Apple key (ES256). */
  privateKey: string;
}

export interface OAuth2Endpoints {
  authorizationUrl: string;
  tokenUrl: string;
  /** GitHub's REST API base: /user and /user/emails. */
  apiUrl: string;
}

export interface ProviderConfig {
  name: string;
  type: ProviderType;
  displayName: string;
  clientId: string;
  /** Undefined for Apple with a key: the secret is a JWT made per request (apple-secret.ts). */
  clientSecret: string | undefined;
  /** OIDC issuer (discovery); undefined for plain OAuth 2.0. */
  issuer: string | undefined;
  scopes: string[];
  /** Client ids accepted as `aud` of a posted ID token, besides clientId (native apps). */
  audiences: string[];
  apple: AppleKey | undefined;
  oauth2: OAuth2Endpoints | undefined;
  /** Apple answers the callback with a form POST when name or email is asked for. */
  responseMode: 'query' | 'form_post';
}

interface Preset {
  type: ProviderType;
  displayName: string;
  issuer?: (value: (name: string) => string | undefined, prefix: string) => string;
  scopes?: string;
  responseMode?: 'form_post';
}

type Env = Record<string, string | undefined>;

const PRESETS: Record<string, Preset> = {
  google: { type: 'oidc', displayName: 'Google', issuer: () => 'https://accounts.google.com' },
  apple: { type: 'oidc', displayName: 'Apple', issuer: () => 'https://appleid.apple.com', scopes: 'openid email name', responseMode: 'form_post' },
  // One directory (tenant id): the multi-tenant "common" endpoint publishes a templated
  // issuer ({tenantid}) that no ID token's `iss` can be checked against.
  microsoft: { type: 'oidc', displayName: 'Microsoft', issuer: (value, p) => (value(`${p}TENANT`) ? `https://login.microsoftonline.com/${value(`${p}TENANT`)}/v2.0` : '') },
  github: { type: 'oauth2', displayName: 'GitHub', scopes: 'read:user user:email' },
};

const GITHUB = { authorizationUrl: 'https://github.com/login/oauth/authorize', tokenUrl: 'https://github.com/login/oauth/access_token', apiUrl: 'https://api.github.com' };

const NAME = /^[a-z][a-z0-9_]{0,31}$/;
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** The providers of PROVIDERS, in its order; appends a line to `problems` per bad variable. */
export function parseProviders(env: Env, problems: string[]): ProviderConfig[] {
  const value = (name: string) => (env[name] === '' ? undefined : env[name]?.trim());
  const names = (value('PROVIDERS') ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const seen = new Set<string>();
  const providers: ProviderConfig[] = [];
  for (const name of names) {
    if (!NAME.test(name)) {
      problems.push(`PROVIDERS: "${name}" is not a provider name (a-z, 0-9 and _, starting with a letter)`);
      continue;
    }
    if (seen.has(name)) {
      problems.push(`PROVIDERS: "${name}" is listed twice`);
      continue;
    }
    seen.add(name);
    const provider = parseOne(name, value, problems);
    if (provider) providers.push(provider);
  }
  return providers;
}

function parseOne(name: string, value: (n: string) => string | undefined, problems: string[]): ProviderConfig | undefined {
  const prefix = `PROVIDER_${name.toUpperCase()}_`;
  const v = (suffix: string) => value(prefix + suffix);
  const preset = PRESETS[name];
  const before = problems.length;
  const clientId = v('CLIENT_ID');
  if (!clientId) problems.push(`${prefix}CLIENT_ID: required for provider "${name}"`);
  const apple = name === 'apple' ? appleKey(prefix, v, problems) : undefined;
  const clientSecret = v('CLIENT_SECRET');
  if (!clientSecret && !apple) {
    problems.push(`${prefix}CLIENT_SECRET: required for provider "${name}"${name === 'apple' ? ` (or ${prefix}TEAM_ID, ${prefix}KEY_ID and ${prefix}PRIVATE_KEY)` : ''}`);
  }
  const type = preset?.type ?? 'oidc';
  let issuer: string | undefined;
  if (type === 'oidc') {
    issuer = v('ISSUER') ?? preset?.issuer?.(value, prefix);
    if (!issuer && name === 'microsoft') problems.push(`${prefix}TENANT: required for provider "microsoft" (the directory (tenant) id), or set ${prefix}ISSUER`);
    else if (!issuer) problems.push(`${prefix}ISSUER: required for provider "${name}" (its OpenID Connect issuer URL)`);
    else if (!secureUrl(issuer)) problems.push(`${prefix}ISSUER: must be an https URL (http only on a loopback host)`);
    issuer = issuer?.replace(/\/+$/, '');
  }
  let oauth2: OAuth2Endpoints | undefined;
  if (type === 'oauth2') {
    oauth2 = {
      authorizationUrl: v('AUTHORIZATION_URL') ?? GITHUB.authorizationUrl,
      tokenUrl: v('TOKEN_URL') ?? GITHUB.tokenUrl,
      apiUrl: (v('API_URL') ?? GITHUB.apiUrl).replace(/\/+$/, ''),
    };
    for (const [suffix, url] of [['AUTHORIZATION_URL', oauth2.authorizationUrl], ['TOKEN_URL', oauth2.tokenUrl], ['API_URL', oauth2.apiUrl]] as const) {
      if (!secureUrl(url)) problems.push(`${prefix}${suffix}: must be an https URL (http only on a loopback host)`);
    }
  }
  const scopes = (v('SCOPES') ?? preset?.scopes ?? 'openid email profile').split(/[\s,]+/).filter(Boolean);
  if (type === 'oidc' && !scopes.includes('openid')) problems.push(`${prefix}SCOPES: must include openid`);
  const audiences = (v('AUDIENCES') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (problems.length > before || !clientId) return undefined;
  return {
    name,
    type,
    displayName: v('DISPLAY_NAME') ?? preset?.displayName ?? name,
    clientId,
    clientSecret,
    issuer,
    scopes,
    audiences,
    apple,
    oauth2,
    responseMode: preset?.responseMode ?? 'query',
  };
}

/** Sign in with Apple's client secret is a JWT signed with this key (apple-secret.ts). */
function appleKey(prefix: string, v: (s: string) => string | undefined, problems: string[]): AppleKey | undefined {
  const teamId = v('TEAM_ID');
  const keyId = v('KEY_ID');
  let privateKey = v('PRIVATE_KEY');
  const file = v('PRIVATE_KEY_FILE');
  if (!teamId && !keyId && !privateKey && !file) return undefined;
  if (file && !privateKey) {
    try {
      privateKey = fs.readFileSync(file, 'utf8');
    } catch (err) {
      problems.push(`${prefix}PRIVATE_KEY_FILE: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  }
  if (!teamId) problems.push(`${prefix}TEAM_ID: required with ${prefix}KEY_ID and ${prefix}PRIVATE_KEY`);
  if (!keyId) problems.push(`${prefix}KEY_ID: required with ${prefix}TEAM_ID and ${prefix}PRIVATE_KEY`);
  if (!privateKey) problems.push(`${prefix}PRIVATE_KEY: required with ${prefix}TEAM_ID and ${prefix}KEY_ID (or ${prefix}PRIVATE_KEY_FILE)`);
  else if (!privateKey.includes('-----BEGIN PRIVATE KEY-----')) problems.push(`${prefix}PRIVATE_KEY: must be the PKCS#8 PEM (.p8) Apple gave you`);
  if (!teamId || !keyId || !privateKey || !privateKey.includes('-----BEGIN PRIVATE KEY-----')) return undefined;
  // A PEM pasted into one line of an env file keeps its line breaks as \n.
  return { teamId, keyId, privateKey: privateKey.replace(/\\n/g, '\n') };
}

/** https anywhere; http only on a loopback host (development and tests). */
export function secureUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname));
}

/** An http: issuer on loopback: openid-client must be told to allow it (and only then). */
export function isLoopbackHttp(value: string): boolean {
  const url = new URL(value);
  return url.protocol === 'http:' && LOOPBACK.has(url.hostname);
}
