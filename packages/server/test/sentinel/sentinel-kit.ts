// A throw-away Redis Sentinel deployment on loopback: one primary, one replica and three
// sentinels, each a real Debian redis-server / redis-sentinel process with its own config
// file in a temp directory (Sentinel rewrites its config, so it must be writable). The test
// that starts one stops it (every process killed, the directory removed).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { ChildService } from '../../../../scripts/lib/child-service.ts';
import { REDIS_SENTINEL_BIN, REDIS_SERVER_BIN } from '../../../../test/lib/requirements.ts';
import { freePort } from '../helpers/process.ts';

export { REDIS_SENTINEL_BIN, REDIS_SERVER_BIN };
export const MASTER_NAME = 'mymaster';
/** The ACL users of a deployment started with `{ acl: true }`: on the data nodes, on the sentinels. */
export const DATA_USER = 'tessera';
export const SENTINEL_USER = 'sentinel-admin';
export const OPENSSL_BIN = '/usr/bin/openssl';

/** A redis-server or redis-sentinel process (the shared launcher) and its port. */
export type RedisNode = ChildService & { readonly port: number };

export interface SentinelDeployment {
  primary: RedisNode;
  replica: RedisNode;
  sentinels: RedisNode[];
  /** For ioredis / REDIS_SENTINELS. */
  addresses: { host: string; port: number }[];
  password: string;
  sentinelPassword: string;
  /** With `{ acl: true }`: the ACL user of the data nodes (DATA_USER), of the sentinels (SENTINEL_USER); otherwise undefined (`default`). */
  username: string | undefined;
  sentinelUsername: string | undefined;
  /** With `{ tls: true }`: the throw-away CA (PEM file) every node's certificate is signed by; otherwise undefined. */
  caFile: string | undefined;
  /**
   * Tessera's Redis variables for this deployment; the ACL usernames too (if any) unless
   * `usernames` is false, and REDIS_TLS + REDIS_TLS_CA_FILE (if `tls`) unless `tls` is false.
   */
  redisEnv(options?: { usernames?: boolean; tls?: boolean }): Record<string, string>;
  /** The port the sentinels currently name as primary. */
  primaryPort(): Promise<number>;
  /** A direct connection to the data node on `port` (AUTH included, as the ACL user with `acl`; over TLS with `tls`). */
  client(port: number): Redis;
  stop(): Promise<void>;
}

/**
 * A redis-server (or redis-sentinel) on a free loopback port, config file in `dir`; resolves
 * once it accepts connections. With `tls` the port is TLS only (`port 0`, `tls-port`).
 */
export async function startRedisNode(bin: string, dir: string, name: string, config: string[], tls = false): Promise<RedisNode> {
  const port = await freePort();
  const file = path.join(dir, `${name}.conf`);
  const listen = tls ? ['port 0', `tls-port ${port}`] : [`port ${port}`];
  fs.writeFileSync(file, [...listen, 'bind 127.0.0.1', `dir ${dir}`, ...config, ''].join('\n'));
  const node: RedisNode = Object.assign(
    new ChildService({
      name,
      command: bin,
      args: [file],
      cwd: dir,
      env: { PATH: process.env.PATH ?? '' },
      ready: async () => /Ready to accept connections|Sentinel ID is/.test(node.output()),
      readyTimeoutMs: 10_000,
    }),
    { port },
  );
  await node.start();
  return node;
}

/**
 * A throw-away CA and one certificate for 127.0.0.1 (subjectAltName IP, which Node checks)
 * signed by it, shared by every node as server and as client (replica → primary, sentinel →
 * anything). Returns the redis.conf lines of a TLS-only node; `ca.crt` in `dir` is the CA.
 */
function issueCertificates(dir: string): string[] {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync(OPENSSL_BIN, args, { cwd: dir, stdio: 'pipe' });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ecKey, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '1', '-subj', '/CN=Tessera test CA');
  openssl('req', '-new', ...ecKey, '-keyout', file('redis.key'), '-out', file('redis.csr'), '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', file('redis.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('redis.crt'), '-days', '1', '-extfile', file('san.ext'));
  return [
    `tls-cert-file ${file('redis.crt')}`,
    `tls-key-file ${file('redis.key')}`,
    `tls-ca-cert-file ${file('ca.crt')}`,
    // Clients prove nothing: Tessera authenticates with AUTH, as over plain TCP.
    'tls-auth-clients no',
    // A replica to its primary, and a sentinel to the data nodes and to the other sentinels, over TLS.
    'tls-replication yes',
  ];
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await condition()) return;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Primary + replica (replicaof, AUTH on both, no persistence) and three sentinels (quorum 2,
 * down after 1 s), started in that order and only returned once every sentinel knows the
 * replica and the two other sentinels: a failover is possible from then on.
 *
 * `acl`: as a hardened deployment, every node's `default` user is off. The data nodes know
 * only DATA_USER (the replica and the sentinels log in as it: masteruser, auth-user), the
 * sentinels only SENTINEL_USER (they log in to each other as it: sentinel-user).
 */
export async function startSentinelDeployment(options: { downAfterMs?: number; acl?: boolean; tls?: boolean } = {}): Promise<SentinelDeployment> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-sentinel-'));
  const tls = options.tls ?? false;
  const tlsConfig = tls ? issueCertificates(dir) : [];
  const caFile = tls ? path.join(dir, 'ca.crt') : undefined;
  const ca = caFile !== undefined ? fs.readFileSync(caFile, 'utf8') : undefined;
  const password = 'data-pass-' + Math.random().toString(36).slice(2);
  const sentinelPassword = 'sentinel-pass-' + Math.random().toString(36).slice(2);
  const username = options.acl ? DATA_USER : undefined;
  const sentinelUsername = options.acl ? SENTINEL_USER : undefined;
  const nodes: RedisNode[] = [];
  const clients: Redis[] = [];
  const client = (port: number, pass = password, user = username): Redis => {
    const c = new Redis({
      host: '127.0.0.1',
      port,
      username: user,
      password: pass,
      ...(ca !== undefined ? { tls: { ca } } : {}),
      maxRetriesPerRequest: 1,
      lazyConnect: false,
      retryStrategy: () => null,
    });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  const stop = async () => {
    for (const c of clients) c.disconnect();
    await Promise.all(nodes.map((n) => n.kill()));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const dataAuth = options.acl
      ? ['user default off', `user ${DATA_USER} on >${password} ~* &* +@all`, `masteruser ${DATA_USER}`]
      : [`requirepass ${password}`];
    const data = ['save ""', 'appendonly no', ...dataAuth, `masterauth ${password}`, 'protected-mode no', ...tlsConfig];
    const primary = await startRedisNode(REDIS_SERVER_BIN, dir, 'primary', data, tls);
    nodes.push(primary);
    const replica = await startRedisNode(REDIS_SERVER_BIN, dir, 'replica', [...data, `replicaof 127.0.0.1 ${primary.port}`], tls);
    nodes.push(replica);
    const replicaClient = client(replica.port);
    await until(async () => /master_link_status:up/.test(await replicaClient.info('replication')), 'the replica to sync', 15_000);

    const sentinelConfig = [
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primary.port} 2`,
      ...(options.acl ? [`sentinel auth-user ${MASTER_NAME} ${DATA_USER}`] : []),
      `sentinel auth-pass ${MASTER_NAME} ${password}`,
      `sentinel down-after-milliseconds ${MASTER_NAME} ${options.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${MASTER_NAME} 3000`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`,
      // Clients and the other sentinels log in to a sentinel with this one.
      ...(options.acl
        ? ['user default off', `user ${SENTINEL_USER} on >${sentinelPassword} allchannels +@all`, `sentinel sentinel-user ${SENTINEL_USER}`]
        : [`requirepass ${sentinelPassword}`]),
      `sentinel sentinel-pass ${sentinelPassword}`,
      'protected-mode no',
      ...tlsConfig,
    ];
    const sentinels: RedisNode[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await startRedisNode(REDIS_SENTINEL_BIN, dir, `sentinel-${i}`, sentinelConfig, tls);
      nodes.push(s);
      sentinels.push(s);
    }
    const sentinelClients = sentinels.map((s) => client(s.port, sentinelPassword, sentinelUsername));
    await until(
      async () => {
        for (const c of sentinelClients) {
          const fields = (await c.call('SENTINEL', 'MASTER', MASTER_NAME)) as string[];
          const info = new Map<string, string>();
          for (let i = 0; i + 1 < fields.length; i += 2) info.set(fields[i]!, fields[i + 1]!);
          if (info.get('num-slaves') !== '1' || info.get('num-other-sentinels') !== '2') return false;
        }
        return true;
      },
      'every sentinel to know the replica and the other sentinels',
      30_000,
    );
    const addresses = sentinels.map((s) => ({ host: '127.0.0.1', port: s.port }));
    return {
      primary,
      replica,
      sentinels,
      addresses,
      password,
      sentinelPassword,
      username,
      sentinelUsername,
      caFile,
      redisEnv: ({ usernames = true, tls: withTls = true } = {}) => ({
        REDIS_SENTINELS: addresses.map((a) => `${a.host}:${a.port}`).join(','),
        REDIS_SENTINEL_NAME: MASTER_NAME,
        REDIS_PASSWORD: password,
        REDIS_SENTINEL_PASSWORD: sentinelPassword,
        ...(usernames && username !== undefined ? { REDIS_USERNAME: username } : {}),
        ...(usernames && sentinelUsername !== undefined ? { REDIS_SENTINEL_USERNAME: sentinelUsername } : {}),
        ...(withTls && caFile !== undefined ? { REDIS_TLS: 'true', REDIS_TLS_CA_FILE: caFile } : {}),
      }),
      async primaryPort() {
        for (const c of sentinelClients) {
          try {
            const [, port] = (await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as [string, string];
            return Number(port);
          } catch {
            // ask the next one
          }
        }
        throw new Error('no sentinel answered');
      },
      client: (port: number) => client(port),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
