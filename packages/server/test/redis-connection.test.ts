// REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES, and the credentials that go with each: which combinations
// start, what the connection options become, and that a bad one names the variable and
// never echoes a password.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { redisConnection } from '../src/redis-connection.ts';
import { tempDir } from './helpers/app.ts';

const keys = tempDir();
const load = (env: Record<string, string>) => loadConfig({ KEYS_DIR: keys, ...env });

function problems(env: Record<string, string>): string {
  try {
    load(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

describe('Redis connection settings', () => {
  it('REDIS_URL alone: one server, the URL as given (database index included)', () => {
    const config = load({ REDIS_URL: 'redis://cache.internal:6379/4' });
    expect(config.redis).toEqual({ mode: 'direct', url: 'redis://cache.internal:6379/4' });
    expect(redisConnection(config.redis!)).toBe('redis://cache.internal:6379/4');
  });

  it('REDIS_PASSWORD goes into the URL, percent-encoded', () => {
    for (const password of ['p@ss:w/rd', '100%', 'a%41b', "it's (ok)!~*"]) {
      const config = load({ REDIS_URL: 'redis://cache.internal:6379/2', REDIS_PASSWORD: password });
      const url = new URL(redisConnection(config.redis!) as string);
      // What ioredis does with it (decodeURIComponent of the parsed URL's password).
      expect(decodeURIComponent(url.password), password).toBe(password);
      expect(url.pathname).toBe('/2');
    }
  });

  it('REDIS_SENTINELS: Sentinel options for ioredis, with the defaults', () => {
    const config = load({ REDIS_SENTINELS: '10.0.0.1:26379, sentinel-b:26380,[::1]:26381' });
    expect(config.redis).toEqual({
      mode: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: 'sentinel-b', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      name: 'mymaster',
      username: undefined,
      password: undefined,
      sentinelUsername: undefined,
      sentinelPassword: undefined,
      db: 0,
      tls: false,
      sentinelTls: false,
      ca: undefined,
    });
    const options = redisConnection(config.redis!);
    expect(options).toMatchObject({ sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: 'sentinel-b', port: 26380 }, { host: '::1', port: 26381 }], name: 'mymaster', db: 0 });
    for (const credential of ['username', 'password', 'sentinelUsername', 'sentinelPassword']) expect(options).not.toHaveProperty(credential);
    for (const tls of ['tls', 'enableTLSForSentinelMode', 'sentinelTLS']) expect(options).not.toHaveProperty(tls);
    // A demoted primary answers READONLY: reconnect (the sentinels name the new one).
    const reconnect = (options as { reconnectOnError: (err: Error) => unknown }).reconnectOnError;
    expect(reconnect(new Error("READONLY You can't write against a read only replica."))).toBe(true);
    expect(reconnect(new Error('ERR something else'))).toBe(false);
  });

  it('REDIS_SENTINELS with its name, ACL users, passwords and database', () => {
    const config = load({
      REDIS_SENTINELS: '127.0.0.1:26379',
      REDIS_SENTINEL_NAME: 'tessera-cache',
      REDIS_USERNAME: 'tessera',
      REDIS_PASSWORD: 'data-secret',
      REDIS_SENTINEL_USERNAME: 'sentinel-admin',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      REDIS_DB: '3',
    });
    expect(redisConnection(config.redis!)).toMatchObject({
      sentinels: [{ host: '127.0.0.1', port: 26379 }],
      name: 'tessera-cache',
      username: 'tessera',
      password: 'data-secret',
      sentinelUsername: 'sentinel-admin',
      sentinelPassword: 'sentinel-secret',
      db: 3,
    });
    // Either ACL user alone: the other side stays the `default` user.
    const dataOnly = redisConnection(load({ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_USERNAME: 'tessera', REDIS_PASSWORD: 'p' }).redis!);
    expect(dataOnly).toMatchObject({ username: 'tessera', password: 'p' });
    expect(dataOnly).not.toHaveProperty('sentinelUsername');
  });

  it('REDIS_TLS, REDIS_SENTINEL_TLS (default: REDIS_TLS) and REDIS_TLS_CA_FILE in Sentinel mode', () => {
    const sentinels = { REDIS_SENTINELS: '127.0.0.1:26379' };
    // Both sides over TLS, Node's root CAs; ioredis needs enableTLSForSentinelMode to use `tls` for the data nodes.
    expect(redisConnection(load({ ...sentinels, REDIS_TLS: 'true' }).redis!)).toMatchObject({ tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} });
    // Data nodes over TLS, sentinels in plain TCP, and the other way round.
    const dataOnly = redisConnection(load({ ...sentinels, REDIS_TLS: 'true', REDIS_SENTINEL_TLS: 'false' }).redis!);
    expect(dataOnly).toMatchObject({ tls: {}, enableTLSForSentinelMode: true });
    expect(dataOnly).not.toHaveProperty('sentinelTLS');
    const sentinelsOnly = redisConnection(load({ ...sentinels, REDIS_SENTINEL_TLS: 'true' }).redis!);
    expect(sentinelsOnly).toMatchObject({ sentinelTLS: {} });
    for (const key of ['tls', 'enableTLSForSentinelMode']) expect(sentinelsOnly).not.toHaveProperty(key);
    // The CA bundle is read at start and trusted on both sides; nothing turns verification off.
    const dir = tempDir();
    const caFile = `${dir}/ca.pem`;
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    fs.writeFileSync(caFile, pem);
    const config = load({ ...sentinels, REDIS_TLS: 'true', REDIS_TLS_CA_FILE: caFile });
    expect(config.redis).toMatchObject({ tls: true, sentinelTls: true, ca: pem });
    const options = redisConnection(config.redis!);
    expect(options).toMatchObject({ tls: { ca: pem }, enableTLSForSentinelMode: true, sentinelTLS: { ca: pem } });
    expect(JSON.stringify(options)).not.toContain('rejectUnauthorized');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses the TLS variables with REDIS_URL, and a CA file that cannot be used, naming the variable but not the path', () => {
    for (const name of ['REDIS_TLS', 'REDIS_SENTINEL_TLS', 'REDIS_TLS_CA_FILE']) {
      const value = name === 'REDIS_TLS_CA_FILE' ? '/etc/ssl/certs/ca-certificates.crt' : 'true';
      expect(problems({ REDIS_URL: 'redis://127.0.0.1:6379', [name]: value }), name).toMatch(
        new RegExp(`${name}: only used with REDIS_SENTINELS or REDIS_CLUSTER_NODES; with REDIS_URL, TLS is the rediss:// scheme`),
      );
    }
    const sentinels = { REDIS_SENTINELS: '127.0.0.1:26379', REDIS_TLS: 'true' };
    const missing = problems({ ...sentinels, REDIS_TLS_CA_FILE: '/nonexistent/hunter2-ca.pem' });
    expect(missing).toMatch(/REDIS_TLS_CA_FILE: cannot be read \(ENOENT\)/);
    expect(missing).not.toContain('hunter2');
    const dir = tempDir();
    fs.writeFileSync(`${dir}/hunter2-not-pem.txt`, 'hunter2 is no certificate');
    const notPem = problems({ ...sentinels, REDIS_TLS_CA_FILE: `${dir}/hunter2-not-pem.txt` });
    expect(notPem).toMatch(/REDIS_TLS_CA_FILE: holds no PEM certificate/);
    expect(notPem).not.toContain('hunter2');
    fs.rmSync(dir, { recursive: true, force: true });
    // A CA with TLS off on both sides would be trusted by nothing.
    expect(problems({ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' })).toMatch(/REDIS_TLS_CA_FILE: only used with REDIS_TLS=true or REDIS_SENTINEL_TLS=true/);
    expect(problems({ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_TLS: 'maybe' })).toMatch(/REDIS_TLS/);
  });

  it('REDIS_USERNAME goes into the URL, percent-encoded, with REDIS_PASSWORD or the URL\'s password', () => {
    for (const username of ['tessera', 'svc@team:a/b', '100%']) {
      const url = new URL(redisConnection(load({ REDIS_URL: 'redis://cache.internal:6379/2', REDIS_USERNAME: username, REDIS_PASSWORD: 'p@ss' }).redis!) as string);
      // What ioredis does with them (decodeURIComponent of the parsed URL's parts).
      expect(decodeURIComponent(url.username), username).toBe(username);
      expect(decodeURIComponent(url.password)).toBe('p@ss');
      expect(url.pathname).toBe('/2');
    }
    const inUrl = new URL(redisConnection(load({ REDIS_URL: 'redis://:secret@cache.internal:6379', REDIS_USERNAME: 'tessera' }).redis!) as string);
    expect([inUrl.username, inUrl.password]).toEqual(['tessera', 'secret']);
  });

  it('refuses contradicting or meaningless combinations, naming the variable', () => {
    expect(problems({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_SENTINELS: '127.0.0.1:26379' })).toMatch(/REDIS_SENTINELS: set either REDIS_URL .* or REDIS_SENTINELS .*not both/);
    expect(problems({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_DB: '2' })).toMatch(/REDIS_DB: only used with REDIS_SENTINELS; with REDIS_URL give the database in its path/);
    expect(problems({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_SENTINEL_NAME: 'x' })).toMatch(/REDIS_SENTINEL_NAME: only used with REDIS_SENTINELS/);
    expect(problems({ REDIS_SENTINEL_PASSWORD: 'x' })).toMatch(/REDIS_SENTINEL_PASSWORD: only used with REDIS_SENTINELS/);
    expect(problems({ REDIS_PASSWORD: 'x' })).toMatch(/REDIS_PASSWORD: set REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES too/);
    expect(problems({ REDIS_URL: 'redis://:a@127.0.0.1:6379', REDIS_PASSWORD: 'b' })).toMatch(/REDIS_PASSWORD: REDIS_URL holds a password too/);
    expect(problems({ REDIS_URL: 'redis://someone:a@127.0.0.1:6379', REDIS_USERNAME: 'b' })).toMatch(/REDIS_USERNAME: REDIS_URL holds a user name too/);
    expect(problems({ REDIS_URL: 'redis://someone@127.0.0.1:6379', REDIS_USERNAME: 'b', REDIS_PASSWORD: 'c' })).toMatch(/REDIS_USERNAME: REDIS_URL holds a user name too/);
    expect(problems({ REDIS_USERNAME: 'x' })).toMatch(/REDIS_USERNAME: set REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES too/);
    expect(problems({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_SENTINEL_USERNAME: 'x' })).toMatch(/REDIS_SENTINEL_USERNAME: only used with REDIS_SENTINELS/);
    expect(problems({ REDIS_SENTINEL_USERNAME: 'x', REDIS_SENTINEL_PASSWORD: 'y' })).toMatch(/REDIS_SENTINEL_USERNAME: only used with REDIS_SENTINELS/);
    // A username alone would make ioredis send AUTH without a password.
    expect(problems({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_USERNAME: 'x' })).toMatch(/REDIS_USERNAME: an ACL user logs in with a password; set REDIS_PASSWORD/);
    expect(problems({ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_USERNAME: 'x' })).toMatch(/REDIS_USERNAME: an ACL user logs in with a password; set REDIS_PASSWORD/);
    expect(problems({ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_USERNAME: 'x', REDIS_PASSWORD: 'y' })).toMatch(/REDIS_SENTINEL_USERNAME: an ACL user logs in with a password; set REDIS_SENTINEL_PASSWORD/);
    for (const bad of ['127.0.0.1', 'host:0', 'host:70000', '[not-ipv6]:1', ':26379', 'a:1,,b']) {
      expect(problems({ REDIS_SENTINELS: bad }), bad).toMatch(/REDIS_SENTINELS: each entry must be host:port/);
    }
    expect(problems({ REDIS_SENTINELS: ',' })).toMatch(/REDIS_SENTINELS: must list at least one sentinel/);
  });

  it('REDIS_CLUSTER_NODES: the seed nodes, with the data nodes\' credentials and TLS', () => {
    const config = load({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, [::1]:7001', REDIS_USERNAME: 'tessera', REDIS_PASSWORD: 'p@ss' });
    expect(config.redis).toEqual({
      mode: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '::1', port: 7001 },
      ],
      username: 'tessera',
      password: 'p@ss',
      tls: false,
      ca: undefined,
    });
    expect(redisConnection(config.redis!)).toEqual({ cluster: { nodes: config.redis!.mode === 'cluster' ? config.redis!.nodes : [], username: 'tessera', password: 'p@ss' } });
    const dir = tempDir();
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    fs.writeFileSync(`${dir}/ca.pem`, pem);
    expect(redisConnection(load({ REDIS_CLUSTER_NODES: '10.0.0.1:7000', REDIS_TLS: 'true', REDIS_TLS_CA_FILE: `${dir}/ca.pem` }).redis!)).toEqual({
      cluster: { nodes: [{ host: '10.0.0.1', port: 7000 }], tls: { ca: pem } },
    });
    expect(redisConnection(load({ REDIS_CLUSTER_NODES: '10.0.0.1:7000', REDIS_TLS: 'true' }).redis!)).toEqual({ cluster: { nodes: [{ host: '10.0.0.1', port: 7000 }], tls: true } });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses REDIS_CLUSTER_NODES with another way to Redis, and what a cluster does not have', () => {
    const nodes = { REDIS_CLUSTER_NODES: '127.0.0.1:7000' };
    expect(problems({ ...nodes, REDIS_URL: 'redis://127.0.0.1:6379' })).toMatch(/REDIS_CLUSTER_NODES: set one of REDIS_URL .* REDIS_SENTINELS .* or REDIS_CLUSTER_NODES .*not REDIS_URL too/);
    expect(problems({ ...nodes, REDIS_SENTINELS: '127.0.0.1:26379' })).toMatch(/REDIS_CLUSTER_NODES: set one of .*not REDIS_SENTINELS too/);
    expect(problems({ ...nodes, REDIS_DB: '2' })).toMatch(/REDIS_DB: a Redis Cluster has database 0 only/);
    for (const name of ['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD', 'REDIS_SENTINEL_TLS']) {
      expect(problems({ ...nodes, [name]: name === 'REDIS_SENTINEL_TLS' ? 'true' : 'x' }), name).toMatch(new RegExp(`${name}: only used with REDIS_SENTINELS, not with REDIS_CLUSTER_NODES`));
    }
    expect(problems({ ...nodes, REDIS_USERNAME: 'x' })).toMatch(/REDIS_USERNAME: an ACL user logs in with a password; set REDIS_PASSWORD/);
    expect(problems({ ...nodes, REDIS_KEY_PREFIX: 'app{1}:' })).toMatch(/REDIS_KEY_PREFIX: must not contain \{ or \} with REDIS_CLUSTER_NODES/);
    expect(problems({ ...nodes, REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' })).toMatch(/REDIS_TLS_CA_FILE: only used with REDIS_TLS=true/);
    expect(problems({ REDIS_CLUSTER_NODES: 'hunter2' })).toMatch(/REDIS_CLUSTER_NODES: each entry must be host:port/);
    expect(problems({ REDIS_CLUSTER_NODES: 'hunter2' })).not.toContain('hunter2');
    expect(problems({ REDIS_CLUSTER_NODES: ',' })).toMatch(/REDIS_CLUSTER_NODES: must list at least one cluster node/);
    // Braces are fine in the other modes: nothing there depends on the hash tags.
    expect(load({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_KEY_PREFIX: 'app{1}:' }).redisKeyPrefix).toBe('app{1}:');
  });

  it('never echoes a password or a sentinel list in a configuration error', () => {
    const message = problems({
      REDIS_SENTINELS: 'hunter2-host',
      REDIS_PASSWORD: 'hunter2-data',
      REDIS_SENTINEL_PASSWORD: 'hunter2-sentinel',
      REDIS_DB: '-1',
    });
    expect(message).toContain('REDIS_SENTINELS');
    expect(message).toContain('REDIS_DB');
    expect(message).not.toContain('hunter2');
    const both = problems({ REDIS_URL: 'redis://:hunter2@127.0.0.1:6379', REDIS_SENTINELS: '127.0.0.1:26379', REDIS_PASSWORD: 'hunter2-b' });
    expect(both).not.toContain('hunter2');
    // User names are half a credential: never echoed either, whatever the problem.
    const envs: Record<string, string>[] = [
      { REDIS_URL: 'redis://hunter2-in-url:pw@127.0.0.1:6379', REDIS_USERNAME: 'hunter2-user' },
      { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_USERNAME: 'hunter2-user', REDIS_SENTINEL_USERNAME: 'hunter2-sentinel-user' },
      { REDIS_SENTINELS: 'hunter2-host', REDIS_USERNAME: 'hunter2-user', REDIS_SENTINEL_USERNAME: 'hunter2-sentinel-user' },
      { REDIS_SENTINELS: '127.0.0.1:26379', REDIS_USERNAME: 'hunter2-user', REDIS_SENTINEL_USERNAME: 'hunter2-sentinel-user' },
      { REDIS_USERNAME: 'hunter2-user' },
    ];
    for (const env of envs) {
      const message = problems(env);
      expect(message).toMatch(/REDIS_(SENTINEL_)?USERNAME|REDIS_SENTINELS/);
      expect(message).not.toContain('hunter2');
    }
  });
});
