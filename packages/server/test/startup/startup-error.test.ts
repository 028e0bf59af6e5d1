// The pieces of a loud start failure, without processes: the message format, the password
// never in it, and the owner-only repair of a folder.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { restrictToOwner } from '../../src/db/owner-only.ts';
import { redisSource } from '../../src/redis-start-check.ts';
import { atStart, passwordOf, StartupError, withoutPassword } from '../../src/startup-error.ts';
import { tempDir } from '../helpers/app.ts';

describe('StartupError', () => {
  it('names the variable, the target and the cause', () => {
    const err = new StartupError('DATABASE_URL', 'postgres://app@db:5432/auth', new Error('connect ECONNREFUSED 10.0.0.1:5432'));
    expect(err.message).toBe('DATABASE_URL (postgres://app@db:5432/auth): connect ECONNREFUSED 10.0.0.1:5432');
  });

  it('takes the first inner error of an AggregateError (pg trying every address)', () => {
    const cause = new AggregateError([new Error('connect ECONNREFUSED ::1:5432'), new Error('connect ECONNREFUSED 127.0.0.1:5432')], '');
    expect(new StartupError('DATABASE_URL', 'x', cause).message).toBe('DATABASE_URL (x): connect ECONNREFUSED ::1:5432');
  });

  it('atStart wraps a failure and scrubs a password a driver quoted', async () => {
    const failing = atStart('SMTP_URL', 'smtp://mail@host', () => Promise.reject(new Error('auth failed for s3cr%t')), ['s3cr%t']);
    await expect(failing).rejects.toThrow('SMTP_URL (smtp://mail@host): auth failed for [redacted]');
    await expect(atStart('X', 'y', () => Promise.resolve(7))).resolves.toBe(7);
  });
});

describe('withoutPassword / passwordOf', () => {
  it('drops the password and keeps the user', () => {
    expect(withoutPassword('postgres://postgres:hunter2@127.0.0.1:1/test')).toBe('postgres://postgres@127.0.0.1:1/test');
    expect(withoutPassword('redis://:hunter2@127.0.0.1:6379/0')).toBe('redis://127.0.0.1:6379/0');
    expect(withoutPassword('redis://127.0.0.1:6379/99')).toBe('redis://127.0.0.1:6379/99');
    expect(passwordOf('postgres://u:p%40ss@h/d')).toBe('p@ss');
    expect(passwordOf('postgres://u@h/d')).toBeUndefined();
  });

  it('redisSource names REDIS_URL or REDIS_SENTINELS, never a password', () => {
    expect(redisSource({ mode: 'direct', url: 'redis://u:pw@h:6379/2' })).toEqual({ variable: 'REDIS_URL', target: 'redis://u@h:6379/2' });
    const sentinel = redisSource({
      mode: 'sentinel',
      sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '::1', port: 26380 }],
      name: 'mymaster',
      username: undefined,
      password: 'pw',
      sentinelUsername: undefined,
      sentinelPassword: 'spw',
      db: 3,
      tls: false,
      sentinelTls: false,
      ca: undefined,
    });
    expect(sentinel).toEqual({ variable: 'REDIS_SENTINELS', target: '10.0.0.1:26379,[::1]:26380 mymaster' });
  });
});

describe('restrictToOwner', () => {
  it('removes group and other bits from every entry, counts them, and leaves symlinks alone', () => {
    const dir = path.join(tempDir('tessera-owner-'), 'data');
    fs.mkdirSync(path.join(dir, 'pg_wal'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'pg_wal', 'segment'), 'x');
    fs.writeFileSync(path.join(dir, 'PG_VERSION'), '17');
    fs.symlinkSync('/etc/hostname', path.join(dir, 'link'));
    for (const p of [dir, path.join(dir, 'pg_wal')]) fs.chmodSync(p, 0o755);
    for (const p of [path.join(dir, 'pg_wal', 'segment'), path.join(dir, 'PG_VERSION')]) fs.chmodSync(p, 0o666);
    expect(restrictToOwner(dir)).toBe(4);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, 'pg_wal')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, 'PG_VERSION')).mode & 0o777).toBe(0o600);
    expect(fs.statSync('/etc/hostname').mode & 0o044).not.toBe(0);
    expect(restrictToOwner(dir)).toBe(0);
    expect(restrictToOwner(path.join(dir, 'missing'))).toBe(0);
  });
});
