// Revocation through Tessera's Redis denylist, as a resource service sees it: the verifier
// only reads Redis (ioredis loaded on demand), Tessera writes it when a user logs out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, VerifyError, type Verifier } from '@tessera/verifier';
import { ManualClock } from '../../src/clock.ts';
import { RedisDenylist } from '../../src/revocation/redis-denylist.ts';
import { bearer, signUp } from '../helpers/flows.ts';
import { freePort } from '../helpers/process.ts';
import { adminClient, deleteKeys, eventually, REDIS_URL, uniquePrefix } from '../revocation/redis-kit.ts';
import { codeOf, listeningTessera, type ListeningTessera } from './kit.ts';

const prefix = uniquePrefix('verifier');
const admin = adminClient();
let tessera: ListeningTessera;
const verifiers: Verifier[] = [];

function redisVerifier(extra: { cache?: boolean; readyTimeoutMs?: number; redisUrl?: string } = {}): Verifier {
  const verifier = createVerifier({
    issuer: tessera.issuer,
    audience: 'tessera',
    cache: extra.cache ?? false,
    revocation: { redisUrl: extra.redisUrl ?? REDIS_URL, keyPrefix: prefix, readyTimeoutMs: extra.readyTimeoutMs ?? 5_000 },
  });
  verifiers.push(verifier);
  return verifier;
}

const logout = async (accessToken: string, url = '/auth/logout') => {
  const res = await tessera.t.fastify.inject({ method: 'POST', url, headers: bearer(accessToken) });
  expect(res.statusCode, res.body).toBe(204);
};

beforeAll(async () => {
  const clock = new ManualClock(Date.now());
  const denylist = new RedisDenylist({ redis: REDIS_URL, keyPrefix: prefix, clock, writeTimeoutMs: 2_000 });
  tessera = await listeningTessera({ clock, denylist });
});
afterAll(async () => {
  await Promise.all(verifiers.map((v) => v.close()));
  await tessera.t.close();
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

describe('revocation through Redis', () => {
  it('loads revocations made before the verifier started', async () => {
    const { tokens } = await signUp(tessera.t.fastify);
    await logout(tokens.access_token);
    const verifier = redisVerifier();
    expect(await codeOf(verifier.verify(tokens.access_token))).toBe('revoked');
  });

  it('sees a logout published while it runs, even for a cached token', async () => {
    const verifier = redisVerifier({ cache: true });
    const { tokens } = await signUp(tessera.t.fastify);
    const other = (await signUp(tessera.t.fastify)).tokens.access_token;
    const claims = await verifier.verify(tokens.access_token);
    expect(await verifier.verify(tokens.access_token)).toBe(claims);
    await logout(tokens.access_token);
    await eventually(async () => (await codeOf(verifier.verify(tokens.access_token))) === 'revoked', 'the revocation to arrive');
    await expect(verifier.verify(other)).resolves.toMatchObject({ iss: tessera.issuer });
  });

  it('honours logout-all (a per-user cut-off) for every token of that user', async () => {
    const verifier = redisVerifier();
    const { user, tokens } = await signUp(tessera.t.fastify);
    const second = await tessera.t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: user.password } });
    const secondToken = second.json<{ access_token: string }>().access_token;
    await verifier.verify(secondToken);
    await logout(tokens.access_token, '/auth/logout-all');
    await eventually(async () => (await codeOf(verifier.verify(secondToken))) === 'revoked', 'the cut-off to arrive');
    expect(await codeOf(verifier.verify(tokens.access_token))).toBe('revoked');
  });

  it('refuses with revocation_unavailable when the denylist cannot be loaded at start-up', async () => {
    const { tokens } = await signUp(tessera.t.fastify);
    const verifier = redisVerifier({ redisUrl: `redis://127.0.0.1:${await freePort()}`, readyTimeoutMs: 300 });
    const err = await verifier.verify(tokens.access_token).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerifyError);
    expect((err as VerifyError).code).toBe('revocation_unavailable');
    // Past the start-up deadline it keeps refusing (at once) until Redis answers.
    expect(await codeOf(verifier.verify(tokens.access_token))).toBe('revocation_unavailable');
    await verifier.close();
  });
});
