// The example resource service as a real process: it knows Tessera only by its ISSUER (the
// JWKS over HTTP) and, when configured, its Redis denylist.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { RedisDenylist } from '../../src/revocation/redis-denylist.ts';
import { bearer, signUp } from '../helpers/flows.ts';
import { RESOURCE_SERVICE, startProcess, type TesseraProcess } from '../helpers/process.ts';
import { adminClient, deleteKeys, eventually, REDIS_URL, uniquePrefix } from '../revocation/redis-kit.ts';
import { listeningTessera, type ListeningTessera } from './kit.ts';

const SCRIPT = RESOURCE_SERVICE;

describe('examples/resource-service', () => {
  let tessera: ListeningTessera;
  let service: TesseraProcess;

  beforeAll(async () => {
    tessera = await listeningTessera();
    service = await startProcess({ script: SCRIPT, env: { ISSUER: tessera.issuer }, readyPath: '/healthz' });
  });
  afterAll(async () => {
    await service?.stop();
    await tessera?.t.close();
  });

  it('answers /healthz', async () => {
    const res = await fetch(`${service.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('serves /api/profile for a token Tessera issued', async () => {
    const { user, tokens } = await signUp(tessera.t.fastify);
    const res = await fetch(`${service.url}/api/profile`, { headers: bearer(tokens.access_token) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string>;
    expect(body).toMatchObject({ sub: user.id, client_id: 'tessera' });
    expect(body.sid).toMatch(/[0-9a-f-]{36}/);
    expect(body.greeting).toContain(user.id);
  });

  it('refuses a bad token with 401, a code and WWW-Authenticate', async () => {
    const { tokens } = await signUp(tessera.t.fastify);
    const res = await fetch(`${service.url}/api/profile`, { headers: bearer(`${tokens.access_token.slice(0, -4)}AAAA`) });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="tessera", error="invalid_token"/);
    expect(await res.json()).toMatchObject({ status: 401, code: 'invalid_token', reason: 'invalid_signature' });

    const missing = await fetch(`${service.url}/api/profile`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ code: 'invalid_token', reason: 'missing_token' });
  });
});

describe('examples/resource-service with REDIS_URL', () => {
  const prefix = uniquePrefix('resource-service');
  const admin = adminClient();
  let tessera: ListeningTessera;
  let service: TesseraProcess;

  beforeAll(async () => {
    const clock = new ManualClock(Date.now());
    const denylist = new RedisDenylist({ redis: REDIS_URL, keyPrefix: prefix, clock, writeTimeoutMs: 2_000 });
    tessera = await listeningTessera({ clock, denylist });
    service = await startProcess({
      script: SCRIPT,
      env: { ISSUER: tessera.issuer, REDIS_URL, REDIS_KEY_PREFIX: prefix },
      readyPath: '/healthz',
    });
  });
  afterAll(async () => {
    await service?.stop();
    await tessera?.t.close();
    await deleteKeys(admin, prefix);
    admin.disconnect();
  });

  it('refuses a token once its session was logged out at Tessera (even though it was cached)', async () => {
    const { tokens } = await signUp(tessera.t.fastify);
    const profile = () => fetch(`${service.url}/api/profile`, { headers: bearer(tokens.access_token) });
    expect((await profile()).status).toBe(200);
    expect((await profile()).status).toBe(200);
    const logout = await tessera.t.fastify.inject({ method: 'POST', url: '/auth/logout', headers: bearer(tokens.access_token) });
    expect(logout.statusCode, logout.body).toBe(204);
    await eventually(async () => (await profile()).status === 401, 'the service to see the revocation');
    expect(await (await profile()).json()).toMatchObject({ code: 'token_revoked', reason: 'revoked' });
  });

  it('shuts down cleanly on SIGTERM, Redis connections included', async () => {
    expect(await service.stop('SIGTERM')).toBe(0);
  });
});
