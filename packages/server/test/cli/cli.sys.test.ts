import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliIo } from '../../src/cli/main.ts';
import { readKeyFiles } from '../../src/keys/key-files.ts';
import { tempDir } from '../helpers/app.ts';
import { createTestDb, urlWithSchema, type TestDb } from '../helpers/db.ts';
import { REPO_ROOT, SERVER_CLI } from '../helpers/process.ts';

function io(stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: async () => stdin };
  return { io: value, out, err };
}

describe('tessera CLI', () => {
  let testDb: TestDb;
  let env: Record<string, string>;
  beforeAll(async () => {
    testDb = await createTestDb('postgres');
    env = { DATABASE_URL: urlWithSchema(testDb.schema!), KEYS_DIR: tempDir(), ARGON2_MEMORY_KIB: '19456' };
  });
  afterAll(() => testDb.drop());

  it('prints help with exit 0 and usage errors with exit 2', async () => {
    const help = io();
    expect(await runCli(['--help'], help.io, env)).toBe(0);
    expect(help.out.join('\n')).toContain('keys rotate');
    const bad = io();
    expect(await runCli(['frobnicate'], bad.io, env)).toBe(2);
    expect(bad.err.join('\n')).toContain('unknown command group');
    expect(await runCli(['keys', 'explode'], io().io, env)).toBe(2);
    expect(await runCli(['sessions', 'list'], io().io, env)).toBe(2);
    expect(await runCli(['--nope'], io().io, env)).toBe(2);
  });

  it('reports a bad configuration with exit 1', async () => {
    const run = io();
    expect(await runCli(['keys', 'list'], run.io, { ...env, PORT: 'abc' })).toBe(1);
    expect(run.err.join('\n')).toContain('PORT');
  });

  it('generates, rotates and lists keys', async () => {
    const keysEnv = { ...env, KEYS_DIR: tempDir() };
    const gen = io();
    expect(await runCli(['keys', 'generate'], gen.io, keysEnv)).toBe(0);
    expect(gen.out[0]).toMatch(/^generated key /);
    expect(await runCli(['keys', 'generate'], io().io, keysEnv)).toBe(0);
    expect(await readKeyFiles(keysEnv.KEYS_DIR)).toHaveLength(1);

    const rotate = io();
    expect(await runCli(['keys', 'rotate'], rotate.io, keysEnv)).toBe(0);
    expect(rotate.out.join('\n')).toMatch(/published now, signs from/);
    // A second rotation while the first is pending is refused.
    const again = io();
    expect(await runCli(['keys', 'rotate'], again.io, keysEnv)).toBe(1);
    expect(again.err.join('\n')).toContain('pending');

    const list = io();
    expect(await runCli(['keys', 'list', '--json'], list.io, keysEnv)).toBe(0);
    const states = (JSON.parse(list.out[0]!) as { state: string }[]).map((k) => k.state).sort();
    expect(states).toEqual(['active', 'pending']);
  });

  it('creates, disables and enables users; lists and revokes sessions', async () => {
    const create = io('a strong password\n');
    expect(await runCli(['users', 'create', 'Ops@Example.com'], create.io, env)).toBe(0);
    expect(create.out[0]).toMatch(/created user .* <ops@example.com>/);
    const dup = io('a strong password\n');
    expect(await runCli(['users', 'create', 'ops@example.com'], dup.io, env)).toBe(1);
    expect(dup.err.join('\n')).toContain('already exists');
    const weak = io('short\n');
    expect(await runCli(['users', 'create', 'weak@example.com'], weak.io, env)).toBe(1);
    expect(weak.err.join('\n')).toContain('password');

    const list = io();
    expect(await runCli(['sessions', 'list', '--user', 'ops@example.com'], list.io, env)).toBe(0);
    expect(list.out[0]).toContain('0 live session(s)');
    const revoke = io();
    expect(await runCli(['sessions', 'revoke', '--user', 'ops@example.com'], revoke.io, env)).toBe(0);
    expect(revoke.out[0]).toContain('ended 0 session(s)');

    expect(await runCli(['users', 'disable', 'ops@example.com'], io().io, env)).toBe(0);
    expect(await runCli(['users', 'enable', 'ops@example.com'], io().io, env)).toBe(0);
    const missing = io();
    expect(await runCli(['users', 'disable', 'nobody@example.com'], missing.io, env)).toBe(1);
    expect(missing.err.join('\n')).toContain('no user');
  });

  it('sets roles, shows a user as the admin API does, and resets the second factor (the admin service underneath)', async () => {
    expect(await runCli(['users', 'create', 'roles@example.com'], io('a strong password\n').io, env)).toBe(0);
    const roles = io();
    expect(await runCli(['users', 'roles', 'roles@example.com', 'admin', 'billing', 'admin'], roles.io, env)).toBe(0);
    expect(roles.out[0]).toBe('roles of roles@example.com: admin billing');
    const bad = io();
    expect(await runCli(['users', 'roles', 'roles@example.com', 'has space'], bad.io, env)).toBe(1);
    expect(bad.err.join('\n')).toContain('must be 1-64 letters');
    const show = io();
    expect(await runCli(['users', 'show', 'roles@example.com', '--json'], show.io, env)).toBe(0);
    expect(JSON.parse(show.out[0]!)).toMatchObject({ email: 'roles@example.com', roles: ['admin', 'billing'], mfa_enabled: false, disabled: false });
    const none = io();
    expect(await runCli(['users', 'roles', 'roles@example.com'], none.io, env)).toBe(0);
    expect(none.out[0]).toBe('roles of roles@example.com: (none)');
    const reset = io();
    expect(await runCli(['users', 'mfa-reset', 'roles@example.com'], reset.io, env)).toBe(0);
    expect(reset.out[0]).toContain('removed the second factor');
  });

  it('sessions prune purges now, under the same lock as the replicas\' timers', async () => {
    const prune = io();
    expect(await runCli(['sessions', 'prune'], prune.io, env)).toBe(0);
    expect(prune.out.join('\n')).toMatch(/^scrubbed \d+ sealed successor\(s\); deleted \d+ rotated-token hash\(es\) and \d+ dead session\(s\) older than 2592000 s \(SESSION_RETENTION\)/);
    const json = io();
    expect(await runCli(['sessions', 'prune', '--json'], json.io, { ...env, SESSION_RETENTION: '7200' })).toBe(0);
    expect(JSON.parse(json.out[0]!)).toMatchObject({ sessionsDeleted: 0, complete: true, retention_seconds: 7200 });
  });

  it('runs as a real command', () => {
    const result = spawnSync(process.execPath, [SERVER_CLI, '--help'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Usage: tessera');
    const bad = spawnSync(process.execPath, [SERVER_CLI, 'nope'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(2);
  });

  it('the built CLI (dist/) creates a user that really exists, as the sources do', async () => {
    const email = `built-${Date.now()}@example.com`;
    const result = spawnSync(process.execPath, [SERVER_CLI, 'users', 'create', email], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      input: 'a strong password\n',
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^created user [0-9a-f-]{36} <${email}>`));
    const rows = await testDb.db.query('SELECT email FROM users WHERE email = $1', [email]);
    expect(rows).toHaveLength(1);
  });
});
