// @tessera/verifier as another team would use it: `npm pack`, installed from the tarball
// into a fresh project that has only fastify besides it, then three services against a live
// Tessera — ESM JavaScript with the Fastify plugin, CommonJS require(), and TypeScript
// compiled by tsc (NodeNext, strict) and run with plain node — each following Tessera's
// revocation feed (no Redis client in the project).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, urlWithSchema, type TestDb } from '../../packages/server/test/helpers/db.ts';
import { PASSWORD, uniqueEmail } from '../../packages/server/test/helpers/flows.ts';
import { freePort, REPO_ROOT, startProcess, type TesseraProcess } from '../../packages/server/test/helpers/process.ts';
import { REDIS_URL, uniquePrefix } from '../../packages/server/test/revocation/redis-kit.ts';
import { deletePrefix } from '../lib/redis-cleanup.ts';
import { consumerServices } from './services.ts';

const FASTIFY_VERSION = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'node_modules/fastify/package.json'), 'utf8')) as { version: string }).version;
const TSC = path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
const FEED_CLIENT = { id: 'consumer', secret: 'consumer-feed-secret' };

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', timeout: 180_000 });
}

function du(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += du(full);
    else if (entry.isFile()) total += fs.statSync(full).size;
  }
  return total;
}

describe('@tessera/verifier installed from its tarball into a fresh project', () => {
  let project = '';
  let testDb: TestDb | undefined;
  let tessera: TesseraProcess | undefined;
  const prefix = uniquePrefix('consumer');
  const services: TesseraProcess[] = [];

  beforeAll(async () => {
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-consumer-'));
    const tarball = npm(['pack', '--pack-destination', project, '--silent'], path.join(REPO_ROOT, 'packages/verifier')).trim().split('\n').at(-1)!;
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
    // What a resource service needs: fastify and the verifier. Revocation follows Tessera's
    // feed over HTTP, so no Redis client is installed.
    npm(['install', '--prefer-offline', `./${tarball}`, `fastify@${FASTIFY_VERSION}`], project);
    testDb = await createTestDb('postgres');
    const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-consumer-keys-'));
    // ISSUER is the address the services fetch the JWKS from.
    const port = await freePort();
    tessera = await startProcess({
      port,
      env: {
        ISSUER: `http://127.0.0.1:${port}`,
        DATABASE_URL: urlWithSchema(testDb.schema!),
        KEYS_DIR: keysDir,
        REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        RATE_LIMIT_ENABLED: 'false',
        INTROSPECTION_CLIENTS: `${FEED_CLIENT.id}:${FEED_CLIENT.secret}:revocations`,
      },
    });
  }, 240_000);

  afterAll(async () => {
    for (const service of services) await service.stop().catch(() => undefined);
    await tessera?.stop().catch(() => undefined);
    await testDb?.drop().catch(() => undefined);
    await deletePrefix(prefix);
    if (project) fs.rmSync(project, { recursive: true, force: true });
  }, 60_000);

  it('installs small: only the verifier, fastify and their dependencies (no Redis client)', () => {
    const lock = JSON.parse(fs.readFileSync(path.join(project, 'node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
    const packages = Object.keys(lock.packages).filter((p) => p.startsWith('node_modules/'));
    const verifierSize = du(path.join(project, 'node_modules/@tessera/verifier'));
    process.stdout.write(
      `consumer install: ${packages.length} packages, node_modules ${(du(path.join(project, 'node_modules')) / 1024 / 1024).toFixed(1)} MB ` +
        `(@tessera/verifier itself ${(verifierSize / 1024).toFixed(0)} KB)\n`,
    );
    const verifierPkg = JSON.parse(fs.readFileSync(path.join(project, 'node_modules/@tessera/verifier/package.json'), 'utf8')) as Record<string, unknown>;
    expect(verifierPkg.dependencies).toBeUndefined();
    expect(fs.existsSync(path.join(project, 'node_modules/@tessera/verifier/src'))).toBe(false);
    expect(fs.existsSync(path.join(project, 'node_modules/@tessera/verifier/test'))).toBe(false);
    for (const heavy of ['@electric-sql/pglite', 'argon2', 'pg', 'esbuild', 'tsx', '@fastify/swagger-ui', 'ioredis']) {
      expect(packages, heavy).not.toContain(`node_modules/${heavy}`);
    }
  });

  for (const service of consumerServices) {
    it(`${service.name}: 200 with a valid token, 401 with a forged one, 401 token_revoked after a logout`, async () => {
      service.write(project);
      if (service.compile) {
        // A real TypeScript service: strict, NodeNext, the package's own .d.ts files.
        npm(['install', '--prefer-offline', '@types/node@20'], project);
        const tsc = spawnSync(process.execPath, [TSC, '-p', path.join(project, 'tsconfig.json')], { encoding: 'utf8', timeout: 120_000 });
        expect(tsc.stdout + tsc.stderr, 'tsc output').toBe('');
        expect(tsc.status).toBe(0);
      }
      const running = await startProcess({
        script: path.join(project, service.entry),
        env: { ISSUER: tessera!.url, FEED_URL: `${tessera!.url}/revocations/stream`, FEED_CLIENT_ID: FEED_CLIENT.id, FEED_CLIENT_SECRET: FEED_CLIENT.secret },
        readyPath: '/healthz',
      });
      services.push(running);

      const email = uniqueEmail('consumer');
      const post = (url: string, body?: unknown, headers: Record<string, string> = {}) =>
        fetch(`${tessera!.url}${url}`, {
          method: 'POST',
          headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
          body: body ? JSON.stringify(body) : undefined,
        });
      expect((await post('/auth/register', { email, password: PASSWORD })).status).toBe(201);
      const tokens = (await (await post('/auth/login', { email, password: PASSWORD })).json()) as { access_token: string };
      const profile = (token: string) => fetch(`${running.url}/profile`, { headers: { authorization: `Bearer ${token}` } });

      const ok = await profile(tokens.access_token);
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { sub: string }).sub).toMatch(/^[0-9a-f-]{36}$/);

      const [header, payload, signature] = tokens.access_token.split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
      const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')}.${signature}`;
      const refused = await profile(forged);
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { code: string }).code).toBe('invalid_token');

      expect((await post('/auth/logout', undefined, { authorization: `Bearer ${tokens.access_token}` })).status).toBe(204);
      let revoked: Response | undefined;
      for (let i = 0; i < 50; i++) {
        revoked = await profile(tokens.access_token);
        if (revoked.status === 401) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(revoked!.status).toBe(401);
      expect(((await revoked!.json()) as { code: string }).code).toBe('token_revoked');
    }, 180_000);
  }
});
