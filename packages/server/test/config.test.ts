import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { tempDir } from './helpers/app.ts';

describe('config', () => {
  it('has documented defaults when nothing is set', () => {
    const config = loadConfig({ KEYS_DIR: tempDir() });
    expect(config.port).toBe(3000);
    expect(config.issuer).toBe('http://localhost:3000');
    expect(config.accessTokenTtl).toBe(900);
    expect(config.refreshIdleTtl).toBe(7 * 24 * 3600);
    expect(config.refreshAbsoluteTtl).toBe(30 * 24 * 3600);
    expect(config.refreshShortTtl).toBe(24 * 3600);
    expect(config.refreshGracePeriod).toBe(10);
    expect(config.argon2).toEqual({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.redis).toBeUndefined();
    expect(config.keySize).toBe(2048);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '', KEYS_DIR: tempDir() }).port).toBe(3000);
  });

  it('lists every bad variable in one error', () => {
    const file = path.join(tempDir(), 'not-a-dir');
    fs.writeFileSync(file, 'x');
    let error: unknown;
    try {
      loadConfig({
        PORT: 'abc',
        ACCESS_TOKEN_TTL: '-5',
        JWT_ALG: 'HS256',
        ISSUER: 'not a url',
        ARGON2_MEMORY_KIB: '1024',
        INTROSPECTION_CLIENTS: 'no-secret',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['PORT', 'ACCESS_TOKEN_TTL', 'JWT_ALG', 'ISSUER', 'ARGON2_MEMORY_KIB', 'INTROSPECTION_CLIENTS']) {
      expect(problems).toContain(name);
    }
    expect(() => loadConfig({ KEYS_DIR: file })).toThrow(/KEYS_DIR.*not a directory/);
  });

  it('reads the mail and account-recovery settings', () => {
    const defaults = loadConfig({ KEYS_DIR: tempDir() });
    expect(defaults.mail).toEqual({ smtpUrl: undefined, from: 'Tessera <no-reply@localhost>', dir: path.resolve('./data/mail'), templatesDir: undefined, appUrl: 'http://localhost:8080' });
    expect(defaults.recovery).toEqual({ passwordResetTtl: 1800, emailVerificationTtl: 86400, requireVerifiedEmail: false });
    const set = loadConfig({
      KEYS_DIR: tempDir(),
      SMTP_URL: 'smtps://mailer:pw@smtp.example.com:465',
      MAIL_FROM: 'auth@example.com',
      APP_URL: 'https://app.example.com/',
      PASSWORD_RESET_TTL: '600',
      REQUIRE_VERIFIED_EMAIL: 'true',
    });
    expect(set.mail).toMatchObject({ smtpUrl: 'smtps://mailer:pw@smtp.example.com:465', from: 'auth@example.com', appUrl: 'https://app.example.com' });
    expect(set.recovery).toMatchObject({ passwordResetTtl: 600, requireVerifiedEmail: true });
  });

  it('refuses a bad SMTP_URL, MAIL_FROM or APP_URL without printing the SMTP password', () => {
    let error: unknown;
    try {
      loadConfig({ KEYS_DIR: tempDir(), SMTP_URL: 'http://mailer:hunter2@smtp.example.com', MAIL_FROM: 'not an address', APP_URL: 'ftp://app', PASSWORD_RESET_TTL: '0' });
    } catch (err) {
      error = err;
    }
    const message = (error as ConfigError).message;
    for (const name of ['SMTP_URL', 'MAIL_FROM', 'APP_URL', 'PASSWORD_RESET_TTL']) expect(message).toContain(name);
    expect(message).not.toContain('hunter2');
  });

  it('derives ISSUER from PORT (and HOST) when it is not set, so discovery points at this server', () => {
    const keys = tempDir();
    expect(loadConfig({ PORT: '47000', KEYS_DIR: keys })).toMatchObject({ issuer: 'http://localhost:47000', issuerDerived: true });
    expect(loadConfig({ PORT: '47000', HOST: '127.0.0.1', KEYS_DIR: keys }).issuer).toBe('http://localhost:47000');
    expect(loadConfig({ PORT: '8080', HOST: '10.1.2.3', KEYS_DIR: keys }).issuer).toBe('http://10.1.2.3:8080');
    expect(loadConfig({ PORT: '80', HOST: '::', KEYS_DIR: keys }).issuer).toBe('http://localhost');
    expect(loadConfig({ PORT: '47000', ISSUER: 'https://auth.example.com', KEYS_DIR: keys })).toMatchObject({ issuer: 'https://auth.example.com', issuerDerived: false });
  });

  it('normalises CORS_ORIGINS to the form browsers send, and refuses what is not an origin', () => {
    const keys = tempDir();
    expect(loadConfig({ CORS_ORIGINS: 'http://localhost:47030/, HTTPS://App.Example.com:443, https://app.example.com', KEYS_DIR: keys }).corsOrigins).toEqual([
      'http://localhost:47030',
      'https://app.example.com',
    ]);
    for (const bad of ['app.example.com', 'https://app.example.com/spa', 'https://app.example.com/?x=1', '*', 'null', 'ftp://files.example.com', 'https://user:pw@app.example.com']) {
      expect(() => loadConfig({ CORS_ORIGINS: `https://ok.example.com,${bad}`, KEYS_DIR: keys }), bad).toThrow(/CORS_ORIGINS.*is not an origin/);
    }
  });

  it('never echoes the value of a variable that can hold a secret, only its name and the problem', () => {
    const secrets = {
      DATABASE_URL: 'mysql://admin:hunter2-db@db.internal/tessera',
      REDIS_URL: 'http://:hunter2-redis@cache.internal:6379',
      INTROSPECTION_CLIENTS: 'resource-api-hunter2-client',
    };
    let error: unknown;
    try {
      loadConfig({ ...secrets, PORT: 'abc', KEYS_DIR: tempDir() });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    for (const [name, value] of Object.entries(secrets)) {
      expect(message).toContain(name);
      expect(message).not.toContain(value);
      expect(message).not.toContain('hunter2');
    }
    // Variables that hold no secret still show what was given.
    expect(message).toContain('PORT="abc"');
  });

  it('strips a trailing slash from ISSUER so it matches the iss claim exactly', () => {
    expect(loadConfig({ ISSUER: 'https://auth.example.com/', KEYS_DIR: tempDir() }).issuer).toBe('https://auth.example.com');
  });

  it('parses INTROSPECTION_CLIENTS into client credentials and permissions', () => {
    const config = loadConfig({
      INTROSPECTION_CLIENTS: 'api:s3cret, billing:p:w, feed:s3:cret:introspect+revocations, only:x:revocations, odd:a:b:introspect+nope, rv:y:revoke',
      KEYS_DIR: tempDir(),
    });
    expect([...config.introspectionClients].map(([id, c]) => [id, c.secret, [...c.permissions]])).toEqual([
      // No permissions given: what every client could do before permissions existed.
      ['api', 's3cret', ['introspect', 'revoke']],
      ['billing', 'p:w', ['introspect', 'revoke']],
      ['feed', 's3:cret', ['introspect', 'revocations']],
      ['only', 'x', ['revocations']],
      // Not every word is a permission: the whole rest is the secret.
      ['odd', 'a:b:introspect+nope', ['introspect', 'revoke']],
      ['rv', 'y', ['revoke']],
    ]);
    expect(config.revocationFeedHeartbeatSeconds).toBe(15);
    expect(loadConfig({ REVOCATION_FEED_HEARTBEAT_SECONDS: '2', KEYS_DIR: tempDir() }).revocationFeedHeartbeatSeconds).toBe(2);
    expect(() => loadConfig({ REVOCATION_FEED_HEARTBEAT_SECONDS: '0', KEYS_DIR: tempDir() })).toThrow(/REVOCATION_FEED_HEARTBEAT_SECONDS/);
  });
});
