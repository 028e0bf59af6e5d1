// WEBAUTHN_* variables: defaults from APP_URL, Android origins, and origins outside the RP ID refused.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

const base = { KEYS_DIR: '/tmp' };

describe('WebAuthn configuration', () => {
  it('defaults to the host and origin of APP_URL', () => {
    expect(loadConfig({ ...base, APP_URL: 'https://app.example.com/' }).webauthn).toEqual({ rpId: 'app.example.com', rpName: 'Tessera', origins: ['https://app.example.com'] });
  });

  it('takes a parent domain as RP ID, subdomain origins and Android app origins', () => {
    const hash = 'Jq-8d0Dj4zC5k8WfYd1qJb6v0d1b6F3y0bQ4r7Ds0nY';
    const config = loadConfig({ ...base, WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_RP_NAME: 'Example', WEBAUTHN_ORIGINS: `https://example.com, https://app.example.com/,android:apk-key-hash:${hash}` });
    expect(config.webauthn).toEqual({ rpId: 'example.com', rpName: 'Example', origins: ['https://example.com', 'https://app.example.com', `android:apk-key-hash:${hash}`] });
  });

  it.each([
    [{ WEBAUTHN_ORIGINS: 'https://evil.example' }, /WEBAUTHN_ORIGINS.*not localhost/],
    [{ WEBAUTHN_ORIGINS: 'https://example.com/path' }, /WEBAUTHN_ORIGINS/],
    [{ WEBAUTHN_ORIGINS: 'android:apk-key-hash:short' }, /WEBAUTHN_ORIGINS/],
    [{ WEBAUTHN_RP_ID: 'https://example.com' }, /WEBAUTHN_RP_ID/],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });
});
