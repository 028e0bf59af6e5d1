// Tessera: three Tessera replicas (login, logout, password; PostgreSQL) and three replicas of
// the application, the example resource service (examples/resource-service/server.mjs), which
// verifies access tokens in-process with @tessera/verifier and mirrors the Redis denylist.
// nginx routes /auth/ and /.well-known/ to Tessera, everything else to the application.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChildService } from '../../scripts/lib/child-service.ts';
import { freePort } from '../../scripts/lib/ports.ts';
import { nodeArgsFor, REPO_ROOT, RESOURCE_SERVICE, SERVER_MAIN } from '../../scripts/lib/node-script.ts';
import { HEAP_PROBE_ARGS, HEAP_PROBE_DIR, nodeLiveBytes } from '../lib/memory.ts';
import { startNginx } from '../lib/nginx.ts';
import { createLabSchema } from '../lib/postgres.ts';
import { startRedis } from '../lib/redis.ts';
import { runningPids, type Deployment, type ReplicaHandle } from './types.ts';

export const AUDIENCE = 'tessera';
/** The example resource service's verifier cache (`cache: { maxEntries: 10_000 }`). */
export const VERIFIER_CACHE_ENTRIES = 10_000;

/** A Tessera replica and the application replica beside it, crashed and restarted together. */
class Pair implements ReplicaHandle {
  constructor(
    readonly name: string,
    readonly tessera: ChildService,
    readonly app: ChildService,
  ) {}
  async kill() {
    await Promise.all([this.tessera.kill(), this.app.kill()]);
  }
  async stop() {
    await Promise.all([this.tessera.stop(), this.app.stop()]);
  }
  async start() {
    await this.tessera.start();
    await this.app.start();
  }
}

export async function startTessera(): Promise<Deployment> {
  const schema = await createLabSchema();
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-lab-keys-'));
  const redis = await startRedis();
  const lbPort = await freePort();
  const issuer = `http://127.0.0.1:${lbPort}`;
  const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', HOST: '127.0.0.1', LOG_LEVEL: 'warn', LAB_HEAP_PROBE_DIR: HEAP_PROBE_DIR };
  const prefix = 'tessera:';
  const pairs: Pair[] = [];
  const tesseraPorts: number[] = [];
  const appPorts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const tp = await freePort();
    const ap = await freePort();
    tesseraPorts.push(tp);
    appPorts.push(ap);
    const tessera = new ChildService({
      name: `tessera-${i + 1}`,
      command: process.execPath,
      args: [...HEAP_PROBE_ARGS, ...nodeArgsFor(SERVER_MAIN)],
      cwd: REPO_ROOT,
      env: {
        ...base,
        PORT: String(tp),
        DATABASE_URL: schema.url.toString(),
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: prefix,
        KEYS_DIR: keysDir,
        ISSUER: issuer,
        AUDIENCE,
        TRUST_PROXY: 'true',
        // The lab's logins come from one address, faster than a person types.
        RATE_LIMIT_ENABLED: 'false',
        // A stopping replica lingers for idle keep-alive clients; nginx retries elsewhere anyway.
        SHUTDOWN_LINGER_MS: '1000',
      },
      ready: `http://127.0.0.1:${tp}/readyz`,
    });
    const app = new ChildService({
      name: `app-${i + 1}`,
      command: process.execPath,
      args: [...HEAP_PROBE_ARGS, ...nodeArgsFor(RESOURCE_SERVICE)],
      cwd: REPO_ROOT,
      env: {
        ...base,
        PORT: String(ap),
        ISSUER: issuer,
        AUDIENCE,
        JWKS_URI: `${issuer}/.well-known/jwks.json`,
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: prefix,
      },
      ready: `http://127.0.0.1:${ap}/healthz`,
    });
    pairs.push(new Pair(`pair-${i + 1}`, tessera, app));
  }
  const all = pairs.flatMap((p) => [p.tessera, p.app]);
  const cleanup = async () => {
    await redis.close();
    await schema.drop().catch(() => {});
    fs.rmSync(keysDir, { recursive: true, force: true });
  };
  try {
    // The first replica creates the schema's tables and the signing key; then the others.
    await pairs[0]!.tessera.start();
    await Promise.all(pairs.slice(1).map((p) => p.tessera.start()));
    await Promise.all(pairs.map((p) => p.app.start()));
    const nginx = await startNginx({
      port: lbPort,
      upstreams: appPorts.map((p) => `127.0.0.1:${p}`),
      sticky: false,
      auth: { upstreams: tesseraPorts.map((p) => `127.0.0.1:${p}`), prefixes: ['/auth/', '/.well-known/'] },
    });
    return {
      url: nginx.url,
      replicaUrls: appPorts.map((p) => `http://127.0.0.1:${p}`),
      loginUrls: tesseraPorts.map((p) => `http://127.0.0.1:${p}`),
      replicas: pairs,
      protocol: 'tessera',
      // The PostgreSQL backends serving Tessera count too, as the session store's do in the
      // PostgreSQL store row (nearly idle here: verifying a token does not reach Tessera).
      serverPids: async () => [...runningPids([...all, redis.proc]), ...(await schema.backendPids())],
      async liveBytes() {
        let replicas = 0;
        for (const p of pairs) if (p.tessera.pid) replicas += await nodeLiveBytes(p.tessera.pid);
        // The application replicas' growth is the verifier's token cache (the example service
        // caps it at 10,000 tokens): reported as bounded, not scaled to 100,000 sessions.
        let apps = 0;
        for (const p of pairs) if (p.app.pid) apps += await nodeLiveBytes(p.app.pid);
        const tables = await schema.tableBytes();
        return { replicas, store: (await redis.usedMemory()) + tables, bounded: { bytes: apps, capPerReplica: VERIFIER_CACHE_ENTRIES, replicas: pairs.length } };
      },
      store: redis.proc,
      async close() {
        await nginx.stop();
        await Promise.all(all.map((p) => p.stop(undefined, 5_000)));
        await cleanup();
      },
    };
  } catch (err) {
    await Promise.all(all.map((p) => p.kill()));
    await cleanup();
    throw err;
  }
}
