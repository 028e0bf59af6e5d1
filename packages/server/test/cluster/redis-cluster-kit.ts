// A throw-away Redis Cluster on loopback: six Debian redis-server processes with
// `cluster-enabled yes` (no persistence, AUTH on), joined by `redis-cli --cluster create` into
// three primaries with one replica each. The test that starts one stops it (every process
// killed, the temp directory removed).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { ChildService } from '../../../../scripts/lib/child-service.ts';
import { freeClusterPort } from '../../../../scripts/lib/ports.ts';
import { REDIS_CLI_BIN, REDIS_SERVER_BIN } from '../../../../test/lib/requirements.ts';

export type ClusterNode = ChildService & { readonly port: number };

export interface RedisClusterDeployment {
  nodes: ClusterNode[];
  /** Every node, for REDIS_CLUSTER_NODES and ioredis (seed nodes: any of them will do). */
  addresses: { host: string; port: number }[];
  password: string;
  /** Tessera's Redis variables for this cluster. */
  redisEnv(): Record<string, string>;
  /** The node (by port) that is the primary of `key`'s slot right now, asked of any live node. */
  primaryOf(key: string): Promise<ClusterNode>;
  /** A direct connection to one node. */
  client(port: number): Redis;
  /** A cluster connection (closed by stop()). */
  cluster(): Cluster;
  stop(): Promise<void>;
}

const execFileAsync = promisify(execFile);

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
 * Six nodes, three primaries and three replicas, `cluster_state:ok` on every node before it
 * returns. `nodeTimeoutMs` is cluster-node-timeout: how long a silent primary takes to be
 * declared failed and replaced by its replica.
 */
export async function startRedisCluster(options: { nodeTimeoutMs?: number } = {}): Promise<RedisClusterDeployment> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-redis-cluster-'));
  const password = 'cluster-pass-' + Math.random().toString(36).slice(2);
  const nodes: ClusterNode[] = [];
  const clients: (Redis | Cluster)[] = [];
  const client = (port: number): Redis => {
    const c = new Redis({ host: '127.0.0.1', port, password, maxRetriesPerRequest: 1, retryStrategy: () => null });
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
    for (let i = 0; i < 6; i++) {
      const port = await freeClusterPort();
      const config = [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        'cluster-enabled yes',
        `cluster-config-file nodes-${port}.conf`,
        `cluster-node-timeout ${options.nodeTimeoutMs ?? 1500}`,
        // A replica may be promoted however long it was cut off: this is a failover test.
        'cluster-replica-validity-factor 0',
        'save ""',
        'appendonly no',
        `requirepass ${password}`,
        `masterauth ${password}`,
        'protected-mode no',
        '',
      ];
      const file = path.join(dir, `node-${port}.conf`);
      fs.writeFileSync(file, config.join('\n'));
      const node: ClusterNode = Object.assign(
        new ChildService({
          name: `redis-cluster-${port}`,
          command: REDIS_SERVER_BIN,
          args: [file],
          cwd: dir,
          env: { PATH: process.env.PATH ?? '' },
          ready: async () => /Ready to accept connections/.test(node.output()),
          readyTimeoutMs: 10_000,
        }),
        { port },
      );
      nodes.push(node);
      await node.start();
    }
    const addresses = nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
    // redis-cli pairs each replica with a primary; it takes the password from the environment (not the command line).
    await execFileAsync(REDIS_CLI_BIN, ['--cluster', 'create', ...addresses.map((a) => `${a.host}:${a.port}`), '--cluster-replicas', '1', '--cluster-yes'], {
      env: { PATH: process.env.PATH ?? '', REDISCLI_AUTH: password },
      timeout: 30_000,
    });
    const direct = nodes.map((n) => client(n.port));
    await until(
      async () => {
        for (const c of direct) {
          const info = await c.cluster('INFO');
          if (!/cluster_state:ok/.test(info) || !/cluster_known_nodes:6/.test(info)) return false;
        }
        // Every replica attached to its primary.
        const replicas = String(await direct[0]!.cluster('NODES')).split('\n').filter((line) => / slave /.test(line) && /connected/.test(line));
        return replicas.length === 3;
      },
      'cluster_state:ok on every node',
      30_000,
    );
    const byPort = new Map(nodes.map((n) => [n.port, n]));
    return {
      nodes,
      addresses,
      password,
      redisEnv: () => ({ REDIS_CLUSTER_NODES: addresses.map((a) => `${a.host}:${a.port}`).join(','), REDIS_PASSWORD: password }),
      async primaryOf(key: string) {
        for (const node of nodes) {
          if (!node.running) continue;
          try {
            const c = client(node.port);
            const slot = await c.cluster('KEYSLOT', key);
            const shards = await c.cluster('SLOTS');
            for (const [from, to, owner] of shards) if (slot >= from && slot <= to && owner) return byPort.get(owner[1])!;
          } catch {
            // ask the next one
          }
        }
        throw new Error(`no node named the primary of ${key}`);
      },
      client,
      cluster() {
        const c = new Cluster(addresses, { redisOptions: { password } });
        c.on('error', () => {});
        clients.push(c);
        return c;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
