// `npm run cluster`: the docker-compose topology as local processes — N Tessera replicas,
// the example resource service and Debian's nginx as a round-robin balancer in front —
// on the local PostgreSQL and Redis. startCluster() is also what the end-to-end tests use.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { findNginx, writeNginxConf } from './cluster/nginx.ts';
import { ChildService } from './lib/child-service.ts';
import { REPO_ROOT, RESOURCE_SERVICE, SERVER_MAIN } from './lib/node-script.ts';
import { NodeServer } from './lib/node-server.ts';
import { freePort } from './lib/ports.ts';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface ClusterOptions {
  /** Number of Tessera replicas (3). */
  replicas?: number;
  /** Ports; a missing or 0 port is a free one picked at random. */
  ports?: { lb?: number; replicas?: number[]; resource?: number };
  /** PostgreSQL (DATABASE_URL, else the local default). */
  databaseUrl?: string;
  /** Run every replica in this PostgreSQL schema (search_path), which must exist. */
  schema?: string;
  /** Redis (REDIS_URL, else the local default). */
  redisUrl?: string;
  redisKeyPrefix?: string;
  /** The shared signing-key folder (created if missing). */
  keysDir: string;
  /** Start the example resource service (true). */
  resourceService?: boolean;
  /** Extra environment for every replica (wins over the cluster's defaults, not over PORT/HOST). */
  env?: Record<string, string>;
  logLevel?: string;
  /** The replicas' entry point (default: the compiled server). */
  replicaScript?: string;
  /** nginx binary (found on PATH or in /usr/sbin otherwise). */
  nginx?: string;
  /** nginx's prefix folder (a fresh temporary folder by default, removed by stop()). */
  prefix?: string;
  /** Copy every child's output, prefixed with its name, to this stream. */
  echo?: NodeJS.WritableStream;
  readyTimeoutMs?: number;
}

export interface Cluster {
  /** The balancer: the public URL and the ISSUER of every replica. */
  url: string;
  replicas: NodeServer[];
  resource: NodeServer | undefined;
  nginx: ChildService;
  /** The generated nginx config. */
  nginxConf: string;
  /** nginx's error log (upstream failures and retries are logged here). */
  nginxErrorLog(): string;
  /** Stops nginx, the resource service and every replica (gracefully, in parallel). */
  stop(): Promise<void>;
}

/** A connection string whose sessions use `schema`. */
export function urlWithSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

const pick = async (port: number | undefined) => (port ? port : freePort());

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const nginxBin = options.nginx ?? findNginx();
  if (!nginxBin) throw new Error('nginx not found: apt-get install nginx (Debian), or pass options.nginx');
  const count = options.replicas ?? 3;
  const lbPort = await pick(options.ports?.lb);
  const replicaPorts: number[] = [];
  for (let i = 0; i < count; i++) replicaPorts.push(await pick(options.ports?.replicas?.[i]));
  const url = `http://127.0.0.1:${lbPort}`;
  const databaseUrl = options.databaseUrl ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  fs.mkdirSync(options.keysDir, { recursive: true });

  const replicaEnv: Record<string, string> = {
    ISSUER: url,
    DATABASE_URL: options.schema ? urlWithSchema(databaseUrl, options.schema) : databaseUrl,
    REDIS_URL: options.redisUrl ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL,
    REDIS_KEY_PREFIX: options.redisKeyPrefix ?? 'tessera:',
    KEYS_DIR: path.resolve(options.keysDir),
    TRUST_PROXY: 'true',
    LOG_LEVEL: options.logLevel ?? 'info',
    ...options.env,
  };
  const nodeService = (name: string, script: string, port: number, env: Record<string, string>, readyPath: string) =>
    new NodeServer(port, { name, script, env, readyPath, readyTimeoutMs: options.readyTimeoutMs, echo: options.echo });
  const replicas = replicaPorts.map((port, i) =>
    nodeService(`tessera-${i + 1}`, options.replicaScript ?? SERVER_MAIN, port, replicaEnv, '/readyz'),
  );

  const prefix = options.prefix ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-nginx-'));
  let nginxConf: string;
  try {
    // nginx's workers drop root privileges (to nobody) and must reach their temp folders.
    fs.chmodSync(prefix, 0o755);
    nginxConf = writeNginxConf({ prefix, listen: `127.0.0.1:${lbPort}`, upstreams: replicaPorts.map((p) => `127.0.0.1:${p}`) });
  } catch (err) {
    if (!options.prefix) fs.rmSync(prefix, { recursive: true, force: true });
    throw err;
  }
  const nginx = new ChildService({
    name: 'nginx',
    command: nginxBin,
    args: ['-c', nginxConf, '-p', prefix, '-e', path.join(prefix, 'error.log'), '-g', 'daemon off;'],
    cwd: prefix,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir() },
    ready: `${url}/lb-healthz`,
    stopSignal: 'SIGQUIT',
    readyTimeoutMs: 10_000,
    ...(options.echo ? { echo: options.echo } : {}),
  });

  let resource: NodeServer | undefined;
  const started: ChildService[] = [];
  const stopAll = async () => {
    // The balancer first, so nothing is routed to replicas that are stopping.
    await nginx.stop();
    await Promise.all(started.filter((s) => s !== nginx).map((s) => s.stop()));
    if (!options.prefix) fs.rmSync(prefix, { recursive: true, force: true });
  };
  try {
    // Replicas start together: the first start on an empty keys folder generates the
    // signing key under a lock file, the others wait for it and read it.
    await Promise.all(
      replicas.map(async (r) => {
        await r.start();
        started.push(r);
      }),
    );
    await nginx.start();
    started.push(nginx);
    if (options.resourceService ?? true) {
      const resourcePort = await pick(options.ports?.resource);
      resource = nodeService(
        'resource-service',
        RESOURCE_SERVICE,
        resourcePort,
        {
          ISSUER: url,
          AUDIENCE: replicaEnv.AUDIENCE ?? 'tessera',
          JWKS_URI: `${url}/.well-known/jwks.json`,
          REDIS_URL: replicaEnv.REDIS_URL!,
          REDIS_KEY_PREFIX: replicaEnv.REDIS_KEY_PREFIX!,
          LOG_LEVEL: replicaEnv.LOG_LEVEL!,
        },
        '/healthz',
      );
      await resource.start();
      started.push(resource);
    }
  } catch (err) {
    for (const s of [...replicas, nginx, resource]) s?.killNow();
    await stopAll().catch(() => {});
    throw err;
  }

  return {
    url,
    replicas,
    resource,
    nginx,
    nginxConf,
    nginxErrorLog: () => {
      try {
        return fs.readFileSync(path.join(prefix, 'error.log'), 'utf8');
      } catch {
        return '';
      }
    },
    stop: stopAll,
  };
}

async function main(): Promise<void> {
  const env = process.env;
  const port = (name: string, fallback: number) => Number(env[name] ?? fallback);
  const passThrough = Object.fromEntries(
    Object.entries(env).filter(
      (e): e is [string, string] => e[1] !== undefined && !['PORT', 'HOST', 'ISSUER', 'DATABASE_URL', 'REDIS_URL'].includes(e[0]),
    ),
  );
  const cluster = await startCluster({
    ports: {
      lb: port('CLUSTER_LB_PORT', 8080),
      replicas: [3001, 3002, 3003],
      resource: port('CLUSTER_RESOURCE_PORT', 4000),
    },
    keysDir: env.KEYS_DIR ?? path.join(REPO_ROOT, 'keys'),
    env: passThrough,
    echo: process.stdout,
  });
  process.stdout.write(
    [
      '',
      `Tessera cluster is up (DATABASE_URL=${env.DATABASE_URL ?? DEFAULT_DATABASE_URL}, REDIS_URL=${env.REDIS_URL ?? DEFAULT_REDIS_URL})`,
      `  load balancer (nginx)  ${cluster.url}        ← the ISSUER; send clients here`,
      ...cluster.replicas.map((r) => `  ${r.name.padEnd(22)} http://127.0.0.1:${r.port}   (pid ${r.pid})`),
      ...(cluster.resource ? [`  resource service       http://127.0.0.1:${cluster.resource.port}/api/profile`] : []),
      `  nginx config           ${cluster.nginxConf}`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      process.stdout.write(`\n${signal}: stopping the cluster…\n`);
      cluster.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`cluster: ${String(err)}\n`);
          process.exit(1);
        },
      );
    });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`cluster: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
