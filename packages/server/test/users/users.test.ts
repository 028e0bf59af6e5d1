import argon2 from 'argon2';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { userStore } from '../../src/users/user-store.ts';
import { PasswordHasher } from '../../src/users/password.ts';
import { loadConfig } from '../../src/config.ts';
import { createTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { expectProblem, login, me, PASSWORD, register, uniqueEmail } from '../helpers/flows.ts';

describe('registration and login', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const post = (url: string, payload: unknown) => t.fastify.inject({ method: 'POST', url, payload: payload as object });

  it('trims and lower-cases emails, and they are unique', async () => {
    const email = uniqueEmail('Mixed');
    const res = await post('/auth/register', { email: `  ${email.toUpperCase()} `, password: PASSWORD });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ email: email.toLowerCase() });
    expect(Object.keys(res.json() as object).sort()).toEqual(['created_at', 'email', 'email_verified', 'id']);
    expectProblem(await post('/auth/register', { email: email.toLowerCase(), password: PASSWORD }), 409, 'email_taken');
    // Login accepts any casing of the same address.
    await login(t.fastify, ` ${email.toUpperCase()}`);
  });

  it('accepts passwords of 8 to 1024 characters of any Unicode', async () => {
    expectProblem(await post('/auth/register', { email: uniqueEmail(), password: '1234567' }), 400, 'validation_failed');
    await register(t.fastify, uniqueEmail(), '12345678');
    await register(t.fastify, uniqueEmail(), 'x'.repeat(1024));
    const tooLong = expectProblem(await post('/auth/register', { email: uniqueEmail(), password: 'x'.repeat(1025) }), 400, 'validation_failed');
    expect(tooLong.detail).toContain('password');
    // Eight emoji are eight characters, although they are 16 UTF-16 code units.
    const emoji = '🔑🔒🗝️🛡️'.normalize('NFKC');
    const user = await register(t.fastify, uniqueEmail(), `${emoji}пароль密码`);
    await login(t.fastify, user.email, `${emoji}пароль密码`);
  });

  it('answers an unknown email exactly like a wrong password, after one argon2 verification each', async () => {
    const user = await register(t.fastify);
    const verify = vi.spyOn(argon2, 'verify');
    const wrong = await post('/auth/login', { email: user.email, password: 'not the password' });
    const unknown = await post('/auth/login', { email: uniqueEmail('ghost'), password: 'not the password' });
    expect(verify).toHaveBeenCalledTimes(2);
    verify.mockRestore();
    expectProblem(wrong, 401, 'invalid_credentials');
    expect(unknown.statusCode).toBe(wrong.statusCode);
    expect(unknown.body).toBe(wrong.body);
    const headersOf = (r: typeof wrong) => Object.keys(r.headers).filter((h) => h !== 'date').sort();
    expect(headersOf(unknown)).toEqual(headersOf(wrong));
  });

  it('answers a disabled account like a wrong password', async () => {
    const user = await register(t.fastify);
    await userStore.setDisabled(t.db, user.id, new Date());
    expectProblem(await post('/auth/login', { email: user.email, password: PASSWORD }), 401, 'invalid_credentials');
  });

  it('logs login failures without the password', async () => {
    const user = await register(t.fastify);
    await post('/auth/login', { email: user.email, password: 'wrong-password-123' });
    expect(t.logs().some((l) => l.event === 'login.failed')).toBe(true);
    expect(t.logText()).not.toContain('wrong-password-123');
    expect(t.logText()).not.toContain(PASSWORD);
    expect(t.logText()).not.toContain('$argon2id$');
  });
});

describe('password hashing parameters', () => {
  it('defaults to the OWASP argon2id minimum', async () => {
    const config = loadConfig({ KEYS_DIR: tempDir() });
    const hash = await new PasswordHasher(config.argon2).hash('a password');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  });

  describe('rehash on the next login after the parameters were raised', () => {
    let testDb: TestDb;
    beforeAll(async () => {
      testDb = await createTestDb('pglite');
    });
    afterAll(() => testDb.drop());

    it('upgrades the stored hash and keeps the password working', async () => {
      const keysDir = tempDir();
      const old = await createTestApp({ db: testDb, keysDir, config: { argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } } });
      const user = await register(old.fastify);
      await old.close();
      const before = (await userStore.findById(testDb.db, user.id))!.passwordHash;
      expect(before).toMatch(/m=1024,p=1,t=1/);

      const raised = await createTestApp({ db: testDb, keysDir, config: { argon2: { memoryCost: 2048, timeCost: 2, parallelism: 1 } } });
      const tokens = await login(raised.fastify, user.email);
      const after = (await userStore.findById(testDb.db, user.id))!.passwordHash;
      expect(after).toMatch(/^\$argon2id\$v=19\$m=2048,p=1,t=2\$/);
      expect(raised.logs().some((l) => l.event === 'password.rehashed')).toBe(true);
      expect((await me(raised.fastify, tokens.access_token)).statusCode).toBe(200);
      await login(raised.fastify, user.email);
      await raised.close();
    });
  });
});
