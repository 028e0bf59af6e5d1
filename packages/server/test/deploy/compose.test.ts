// The deployment files, checked without Docker (there is no engine on CI): docker-compose.yml
// parsed and validated, the nginx configs' shape, the Dockerfile's shape (`nginx -t`: compose.sys.test.ts).
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

import { REPO_ROOT as ROOT } from '../helpers/process.ts';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
}

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
// `<<: *tessera` merge keys, as docker compose reads them.
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const replicaNames = Object.keys(services).filter((name) => /^tessera-\d+$/.test(name));
const replicas = replicaNames.map((name) => services[name]!);
const nginxConf = read('deploy/nginx.conf');
const proxyConf = read('deploy/nginx-proxy.conf');
const dockerfile = read('deploy/Dockerfile');

/** `${VAR:-default}` → default, as compose resolves it with the variable unset. */
const resolveDefault = (value: string) => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
const seconds = (duration: string) => Number(/^(\d+)s$/.exec(duration)?.[1]);

describe('docker-compose.yml', () => {
  it('has PostgreSQL on a named volume and Redis with append-only persistence', () => {
    const postgres = services.postgres!;
    expect(postgres.image).toMatch(/^postgres:/);
    const pgVolume = postgres.volumes?.find((v) => v.endsWith(':/var/lib/postgresql/data'));
    expect(pgVolume).toBeDefined();
    expect(Object.keys(compose.volumes)).toContain(pgVolume!.split(':')[0]);

    const redis = services.redis!;
    expect(redis.image).toMatch(/^redis:/);
    expect(redis.command?.join(' ')).toMatch(/--appendonly yes/);
    expect(redis.volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
  });

  it('runs three Tessera replicas from one image, sharing the keys volume', () => {
    expect(replicaNames).toEqual(['tessera-1', 'tessera-2', 'tessera-3']);
    for (const replica of replicas) {
      expect(replica.build?.dockerfile).toBe('deploy/Dockerfile');
      const env = replica.environment!;
      for (const name of ['DATABASE_URL', 'REDIS_URL', 'ISSUER', 'KEYS_DIR', 'TRUST_PROXY', 'CORS_ORIGINS', 'INTROSPECTION_CLIENTS']) {
        expect(env, name).toHaveProperty(name);
      }
      expect(env.TRUST_PROXY).toBe('true');
      expect(resolveDefault(env.DATABASE_URL!)).toMatch(/^postgres:\/\/[^@]+@postgres:5432\//);
      expect(env.REDIS_URL).toBe('redis://redis:6379');
      // The same named volume, mounted where KEYS_DIR points.
      expect(replica.volumes).toContain(`keys:${env.KEYS_DIR}`);
      expect(replica.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
      // Docker's SIGKILL must come after the app's own drain deadline.
      expect(seconds(replica.stop_grace_period!) * 1000).toBeGreaterThan(Number(env.SHUTDOWN_TIMEOUT_MS));
    }
    expect(compose.volumes).toHaveProperty('keys');
  });

  it('requires POSTGRES_PASSWORD from the environment: no default password ships', () => {
    const required = /^\$\{POSTGRES_PASSWORD:\?[^}]+\}$/;
    expect(services.postgres!.environment!.POSTGRES_PASSWORD).toMatch(required);
    for (const replica of replicas) expect(replica.environment!.DATABASE_URL).toMatch(/:\$\{POSTGRES_PASSWORD:\?[^}]+\}@/);
    expect(read('docker-compose.yml')).not.toMatch(/POSTGRES_PASSWORD:-/);
  });

  it('keeps /metrics off the balancer: a port of its own, neither published nor proxied', () => {
    for (const replica of replicas) {
      const port = replica.environment!.METRICS_PORT;
      expect(port).toMatch(/^\d+$/);
      expect(port).not.toBe('3000');
      expect(replica.ports ?? []).toEqual([]);
    }
    const published = Object.values(services).flatMap((s) => s.ports ?? []);
    expect(published.some((p) => p.includes(replicas[0]!.environment!.METRICS_PORT!))).toBe(false);
    // nginx proxies only the main port, and answers 404 itself for the operations pages.
    expect(nginxConf).not.toMatch(new RegExp(`:${replicas[0]!.environment!.METRICS_PORT}`));
    expect(proxyConf).toMatch(/location = \/metrics \{\s*return 404;\s*\}/);
    expect(proxyConf).toMatch(/location \^~ \/docs \{\s*return 404;\s*\}/);
  });

  it('gives every service a health check; replicas are ready on /readyz', () => {
    for (const [name, service] of Object.entries(services)) expect(service.healthcheck?.test, name).toBeDefined();
    for (const replica of replicas) expect(replica.healthcheck!.test).toContain('/readyz');
    expect(services['resource-service']!.healthcheck!.test).toContain('/healthz');
    // The script the health checks run is in the image.
    expect(dockerfile).toMatch(/COPY deploy\/healthcheck\.mjs/);
  });

  it('puts nginx in front of the replicas and the resource service behind the same issuer', () => {
    const nginx = services.nginx!;
    expect(nginx.volumes).toEqual(
      expect.arrayContaining(['./deploy/nginx.conf:/etc/nginx/nginx.conf:ro', './deploy/nginx-proxy.conf:/etc/nginx/nginx-proxy.conf:ro']),
    );
    for (const name of replicaNames) expect(nginx.depends_on?.[name]).toEqual({ condition: 'service_healthy' });
    // ISSUER is the balancer's public URL: its port is the one nginx publishes.
    const issuer = new URL(resolveDefault(replicas[0]!.environment!.ISSUER!));
    expect(nginx.ports).toContain(`${issuer.port}:8080`);

    const resource = services['resource-service']!;
    expect(resource.command).toEqual(['node', 'examples/resource-service/server.mjs']);
    expect(resource.environment?.ISSUER).toBe(replicas[0]!.environment!.ISSUER);
    expect(resource.environment?.JWKS_URI).toBe('http://nginx:8080/.well-known/jwks.json');
    expect(resource.depends_on).toMatchObject({ nginx: { condition: 'service_healthy' } });
  });
});

describe('nginx configuration', () => {
  const upstreamBlock = /upstream tessera \{([^}]*)\}/.exec(nginxConf)?.[1] ?? '';

  it('balances round robin over exactly the three replicas, without stickiness', () => {
    const servers = [...upstreamBlock.matchAll(/^\s*server\s+([^\s;]+)/gm)].map((m) => m[1]);
    expect(servers).toEqual(replicaNames.map((name) => `${name}:3000`));
    for (const text of [nginxConf, proxyConf, read('deploy/nginx.cluster.conf.template')]) {
      expect(text).not.toMatch(/^\s*(ip_hash|hash|sticky)\b/m);
    }
    expect(nginxConf).toContain('include /etc/nginx/nginx-proxy.conf;');
  });

  it('sets X-Forwarded-For to the client address, never appending a client-sent header', () => {
    const proxy = read('deploy/nginx-proxy.conf');
    expect(proxy).toMatch(/proxy_set_header X-Forwarded-For \$remote_addr;/);
    expect(proxy).not.toContain('$proxy_add_x_forwarded_for');
  });

  it('retries refused and failed upstreams, and replays POSTs only where it is harmless', () => {
    expect(proxyConf).toMatch(/^proxy_next_upstream error timeout http_502 http_503;$/m);
    // non_idempotent only inside the refresh-grant location, and retries end well within
    // REFRESH_GRACE_PERIOD (10 s), so a replayed refresh is answered from the grace window.
    const replays = [...proxyConf.matchAll(/^(.*)non_idempotent/gm)].filter((m) => !m[1]!.trimStart().startsWith('#'));
    expect(replays).toHaveLength(1);
    expect(proxyConf).toMatch(/location ~ \^\/\(auth\/refresh\|oauth\/token\|[^)]*\)\$ \{\s*proxy_next_upstream [^;]*non_idempotent;/);
    expect(seconds(/proxy_next_upstream_timeout (\d+s);/.exec(proxyConf)![1]!)).toBeLessThan(10);
    // Keep-alive to the replicas, closed by nginx before the replicas would close it.
    expect(upstreamBlock).toMatch(/keepalive \d+;/);
    expect(seconds(/keepalive_timeout (\d+s);/.exec(upstreamBlock)![1]!)).toBeLessThan(5);
  });

});

describe('deploy/Dockerfile and .dockerignore', () => {
  const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)];
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf(stages.at(-1)![0]));

  it('is multi-stage: production dependencies installed in one stage, copied into a slim runtime', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    // The runtime's node_modules come from a stage that installed production dependencies only.
    const from = /^COPY --from=(\S+) \/app\/node_modules/m.exec(finalStage)?.[1];
    expect(from).toBeDefined();
    const depsStage = dockerfile.slice(dockerfile.search(new RegExp(`^FROM .* AS ${from}$`, 'm'))).split(/^FROM /m)[1]!;
    expect(depsStage).toMatch(/^RUN npm ci --omit=dev\b/m);
    // Compiled JavaScript under plain node: no tsx, no TypeScript at run time.
    const server = JSON.parse(read('packages/server/package.json')) as { dependencies: Record<string, string> };
    for (const tool of ['tsx', 'typescript', 'yaml', 'vitest']) expect(server.dependencies).not.toHaveProperty(tool);
    expect(finalStage).toMatch(/^CMD \["node", "packages\/server\/dist\/main\.js"\]/m);
    expect(finalStage).not.toMatch(/tsx/);
    const root = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(root.scripts.cluster).toContain('scripts/cluster.ts');
  });

  it('runs as a non-root user, with the files read at run time in the image', () => {
    const user = [...finalStage.matchAll(/^USER\s+(\S+)/gm)].at(-1)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    for (const needed of ['packages/server/dist', 'packages/server/migrations', 'packages/server/openapi.yaml', 'packages/verifier/dist', 'examples/resource-service/server.mjs']) {
      expect(finalStage).toContain(needed);
    }
  });

  it('never sends keys, local data, secrets or node_modules to the build', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['keys', 'data', '.env', '**/node_modules', '.git']) expect(ignored).toContain(entry);
  });
});
