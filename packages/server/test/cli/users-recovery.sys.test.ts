// `tessera users set-password` and `tessera users delete` against a running replica that
// shares PostgreSQL and the Redis denylist: the operator's command ends the user's
// sessions and access tokens there too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliIo } from '../../src/cli/main.ts';
import { RedisDenylist } from '../../src/revocation/redis-denylist.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDb, urlWithSchema, type TestDb } from '../helpers/db.ts';
import { expectProblem, login, me, PASSWORD, refresh, register, signUp } from '../helpers/flows.ts';
import { adminClient, deleteKeys, eventually, REDIS_URL, uniquePrefix } from '../revocation/redis-kit.ts';

function io(stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: async () => stdin };
  return { io: value, out, err };
}

describe('tessera users set-password / delete', () => {
  const prefix = uniquePrefix('cli-recovery');
  const redis = adminClient();
  let testDb: TestDb;
  let t: TestApp;
  let env: Record<string, string>;

  beforeAll(async () => {
    testDb = await createTestDb('postgres');
    const denylist = new RedisDenylist({ redis: REDIS_URL, keyPrefix: prefix, clock: { now: () => Date.now() }, writeTimeoutMs: 2_000 });
    t = await createTestApp({ db: testDb, denylist });
    env = { DATABASE_URL: urlWithSchema(testDb.schema!), REDIS_URL, REDIS_KEY_PREFIX: prefix, KEYS_DIR: t.config.keysDir };
  });
  afterAll(async () => {
    await t?.close();
    await testDb?.drop();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('set-password reads the new password from stdin and ends every session on every replica', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const run = io('a password set by the operator\n');
    expect(await runCli(['users', 'set-password', user.email.toUpperCase()], run.io, env)).toBe(0);
    expect(run.out[0]).toBe(`set the password of ${user.email}; ended 1 session(s) on every replica`);
    await eventually(async () => (await me(t.fastify, tokens.access_token)).statusCode === 401, 'the replica to deny the old token');
    expectProblem(await me(t.fastify, tokens.access_token), 401, 'token_revoked');
    expectProblem(await refresh(t.fastify, tokens.refresh_token), 401, 'invalid_grant');
    expectProblem(await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } }), 401, 'invalid_credentials');
    await login(t.fastify, user.email, 'a password set by the operator');
  });

  it('set-password refuses a weak password and an unknown user, without echoing the password', async () => {
    const user = await register(t.fastify);
    const weak = io('short\n');
    expect(await runCli(['users', 'set-password', user.email], weak.io, env)).toBe(1);
    expect(weak.err.join('\n')).toContain('password: must be at least 8 characters');
    expect(weak.err.join('\n')).not.toContain('short');
    const missing = io('a long enough password\n');
    expect(await runCli(['users', 'set-password', 'nobody@example.com'], missing.io, env)).toBe(1);
    expect(missing.err.join('\n')).toContain('no user');
    await login(t.fastify, user.email);
  });

  it('delete removes the user and ends their tokens on every replica; the address registers again', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const run = io();
    expect(await runCli(['users', 'delete', user.email], run.io, env)).toBe(0);
    expect(run.out[0]).toContain(`deleted ${user.email} (${user.id}); ended 1 session(s) on every replica`);
    await eventually(async () => (await me(t.fastify, tokens.access_token)).statusCode === 401, 'the replica to deny the old token');
    expectProblem(await refresh(t.fastify, tokens.refresh_token), 401, 'invalid_grant');
    const again = await register(t.fastify, user.email);
    expect(again.id).not.toBe(user.id);
    const gone = io();
    expect(await runCli(['users', 'delete', user.id], gone.io, env)).toBe(1);
    expect(gone.err.join('\n')).toContain('no user');
  });

  it('lists the new commands in the help', async () => {
    const help = io();
    expect(await runCli(['--help'], help.io, env)).toBe(0);
    expect(help.out.join('\n')).toMatch(/users set-password <email>[\s\S]*users delete <email>/);
  });
});
