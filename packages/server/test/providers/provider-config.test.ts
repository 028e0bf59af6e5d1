// PROVIDERS and the PROVIDER_<NAME>_* family: a misconfigured provider stops the start with
// a message naming the variable, never its value. And REDIRECT_ALLOWLIST's URL matching.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { allowedRedirect, parseRedirectAllowlist } from '../../src/providers/redirect-allowlist.ts';
import { tempDir } from '../helpers/app.ts';

const load = (env: Record<string, string>) => loadConfig({ KEYS_DIR: tempDir(), ...env });
const problems = (env: Record<string, string>) => {
  try {
    load(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('provider configuration', () => {
  it('is off without PROVIDERS; the allow-list defaults to the origin of APP_URL', () => {
    const config = load({ APP_URL: 'https://app.example.com/base' });
    expect(config.providers).toEqual([]);
    expect(allowedRedirect('https://app.example.com/anything?x=1', config.redirectAllowlist)?.href).toBe('https://app.example.com/anything?x=1');
  });

  it('reads the presets and a generic provider', () => {
    const config = load({
      PROVIDERS: 'google, acme ,github',
      PROVIDER_GOOGLE_CLIENT_ID: 'g-id',
      PROVIDER_GOOGLE_CLIENT_SECRET: 'g-secret',
      PROVIDER_GOOGLE_AUDIENCES: 'ios-id, android-id',
      PROVIDER_ACME_CLIENT_ID: 'a-id',
      PROVIDER_ACME_CLIENT_SECRET: 'a-secret',
      PROVIDER_ACME_ISSUER: 'https://id.acme.example/',
      PROVIDER_ACME_DISPLAY_NAME: 'Acme',
      PROVIDER_GITHUB_CLIENT_ID: 'gh-id',
      PROVIDER_GITHUB_CLIENT_SECRET: 'gh-secret',
    });
    expect(config.providers.map((p) => [p.name, p.type, p.displayName, p.issuer])).toEqual([
      ['google', 'oidc', 'Google', 'https://accounts.google.com'],
      ['acme', 'oidc', 'Acme', 'https://id.acme.example'],
      ['github', 'oauth2', 'GitHub', undefined],
    ]);
    expect(config.providers[0]!.audiences).toEqual(['ios-id', 'android-id']);
    expect(config.providers[1]!.scopes).toEqual(['openid', 'email', 'profile']);
  });

  it('names the variable, never the secret', () => {
    const text = problems({
      PROVIDERS: 'acme,apple,microsoft,Bad-Name',
      PROVIDER_ACME_CLIENT_SECRET: 'very-secret-value',
      PROVIDER_ACME_ISSUER: 'http://id.acme.example',
      PROVIDER_APPLE_CLIENT_ID: 'x',
      PROVIDER_APPLE_TEAM_ID: 'T',
      PROVIDER_APPLE_PRIVATE_KEY: 'not a pem, also secret',
      PROVIDER_MICROSOFT_CLIENT_ID: 'm',
      PROVIDER_MICROSOFT_CLIENT_SECRET: 's',
    }).join('\n');
    expect(text).toContain('PROVIDER_ACME_CLIENT_ID: required');
    expect(text).toContain('PROVIDER_ACME_ISSUER: must be an https URL (http only on a loopback host)');
    expect(text).toContain('PROVIDER_APPLE_KEY_ID: required');
    expect(text).toContain('PROVIDER_APPLE_PRIVATE_KEY: must be the PKCS#8 PEM');
    expect(text).toContain('PROVIDER_MICROSOFT_TENANT: required');
    expect(text).toContain('PROVIDERS: "bad-name" is not a provider name');
    expect(text).not.toContain('very-secret-value');
    expect(text).not.toContain('also secret');
  });

  it('accepts http: only for a loopback issuer', () => {
    const env = { PROVIDERS: 'dev', PROVIDER_DEV_CLIENT_ID: 'i', PROVIDER_DEV_CLIENT_SECRET: 's' };
    expect(problems({ ...env, PROVIDER_DEV_ISSUER: 'http://127.0.0.1:4000' })).toEqual([]);
    expect(problems({ ...env, PROVIDER_DEV_ISSUER: 'http://localhost:4000' })).toEqual([]);
    expect(problems({ ...env, PROVIDER_DEV_ISSUER: 'http://10.0.0.1' }).join()).toContain('PROVIDER_DEV_ISSUER');
  });
});

describe('REDIRECT_ALLOWLIST', () => {
  it('matches scheme, host and a path prefix on a segment boundary; deep links too', () => {
    const out: string[] = [];
    const allow = parseRedirectAllowlist('https://app.example.com/auth, myapp://auth', 'http://localhost:8080', out);
    expect(out).toEqual([]);
    for (const good of ['https://app.example.com/auth', 'https://app.example.com/auth/done?x=1', 'myapp://auth', 'myapp://auth/callback']) {
      expect(allowedRedirect(good, allow), good).toBeDefined();
    }
    for (const bad of [
      'https://app.example.com/authority',
      'https://app.example.com.evil.com/auth',
      'https://app.example.com@evil.com/auth',
      'http://app.example.com/auth',
      'https://app.example.com:444/auth',
      'https://app.example.com/auth#frag',
      'myapp://authx',
      'otherapp://auth',
      'not a url',
    ]) {
      expect(allowedRedirect(bad, allow), bad).toBeUndefined();
    }
  });

  it('refuses an entry with a query, fragment or credentials, without echoing credentials', () => {
    const out: string[] = [];
    parseRedirectAllowlist('https://a.example/?x=1,https://u:p@b.example/', 'http://localhost:8080', out);
    expect(out).toHaveLength(2);
    expect(out.join()).not.toContain('u:p');
  });
});
