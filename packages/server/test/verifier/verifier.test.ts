import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, DenylistMirror, VerifyError, type VerifierOptions } from '@tessera/verifier';
import { sentinelRedisOptions } from '@tessera/verifier/redis';
import { generateKeyFile } from '../../src/keys/key-files.ts';
import { decodeJwt, signUp } from '../helpers/flows.ts';
import { accessHeader, attackerKeys, forgeToken, rsaKeyPair } from '../helpers/forge.ts';
import { freePort } from '../helpers/process.ts';
import { codeOf, countingFetch, listeningTessera, type ListeningTessera } from './kit.ts';

let tessera: ListeningTessera;
let token: string;

beforeAll(async () => {
  tessera = await listeningTessera();
  token = (await signUp(tessera.t.fastify)).tokens.access_token;
});
afterAll(() => tessera.t.close());

/** A clock the test moves; starts at Tessera's clock. */
function testClock() {
  const clock = { ms: tessera.t.clock.now(), now: () => clock.ms };
  return clock;
}

const junkToken = (kid: string) =>
  forgeToken({ header: accessHeader(kid), payload: { iss: tessera.issuer, aud: 'tessera' }, key: attackerKeys().privateKey });

describe('verify against a real Tessera', () => {
  it('accepts a token Tessera issued, with the JWKS from the default URI', async () => {
    const counting = countingFetch();
    const verifier = createVerifier({ issuer: tessera.issuer, audience: 'tessera', fetch: counting.fetch });
    const claims = await verifier.verify(token);
    expect(claims).toEqual(decodeJwt(token).payload);
    expect(claims).toMatchObject({ iss: tessera.issuer, aud: 'tessera', client_id: 'tessera' });
    expect(Object.isFrozen(claims)).toBe(true);
    expect(counting.calls).toEqual([tessera.jwksUri]);
    await verifier.close();
  });

  it('fetches the JWKS once: concurrent cold verifies share one request, later ones use the cache', async () => {
    const counting = countingFetch();
    const verifier = createVerifier({ issuer: tessera.issuer, audience: 'tessera', fetch: counting.fetch });
    const first = await Promise.all(Array.from({ length: 20 }, () => verifier.verify(token)));
    for (let i = 0; i < 50; i++) await verifier.verify(token);
    expect(first.every((c) => c.jti === first[0]!.jti)).toBe(true);
    expect(counting.calls).toHaveLength(1);
  });

  it('refetches once for an unknown kid, then holds off for the cooldown (a flood of junk kids)', async () => {
    const counting = countingFetch();
    const clock = testClock();
    const verifier = createVerifier({ issuer: tessera.issuer, audience: 'tessera', fetch: counting.fetch, now: clock.now, jwksCooldownMs: 30_000 });
    await verifier.verify(token);
    expect(await codeOf(verifier.verify(junkToken('junk-first')))).toBe('unknown_kid');
    expect(counting.calls).toHaveLength(1); // the key set is younger than the cooldown

    clock.ms += 31_000;
    const flood = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => verifier.verify(junkToken(`junk-${i}`))));
    expect(flood.every((r) => r.status === 'rejected' && (r.reason as VerifyError).code === 'unknown_kid')).toBe(true);
    for (let i = 0; i < 100; i++) expect(await codeOf(verifier.verify(junkToken(`junk-seq-${i}`)))).toBe('unknown_kid');
    expect(counting.calls).toHaveLength(2);

    clock.ms += 31_000;
    expect(await codeOf(verifier.verify(junkToken('junk-later')))).toBe('unknown_kid');
    expect(counting.calls).toHaveLength(3);
    await expect(verifier.verify(token)).resolves.toMatchObject({ iss: tessera.issuer });
  });

  it('refreshes a stale key set in the background while the cached keys keep working', async () => {
    const counting = countingFetch();
    const clock = testClock();
    const verifier = createVerifier({ issuer: tessera.issuer, audience: 'tessera', fetch: counting.fetch, now: clock.now, jwksMaxAgeMs: 120_000 });
    await verifier.verify(token);
    clock.ms += 100_000;
    await verifier.verify(token);
    expect(counting.calls).toHaveLength(1);
    clock.ms += 21_000; // past jwksMaxAgeMs (Tessera's max-age=300 is longer, the option caps it)
    await verifier.verify(token);
    expect(counting.calls).toHaveLength(2); // started, not awaited
    await verifier.refreshKeys(); // joins the refresh in flight
    expect(counting.calls).toHaveLength(2);
    await verifier.verify(token);
    expect(counting.calls).toHaveLength(2);
  });

  it('honours a Cache-Control max-age shorter than jwksMaxAgeMs, never below the cooldown', async () => {
    const jwks = JSON.stringify(tessera.t.keys.jwks().body);
    const calls: string[] = [];
    const clock = testClock();
    const verifier = createVerifier({
      issuer: tessera.issuer,
      audience: 'tessera',
      now: clock.now,
      jwksCooldownMs: 10_000,
      fetch: async (url) => {
        calls.push(String(url));
        return new Response(jwks, { headers: { 'cache-control': 'public, max-age=1' } });
      },
    });
    await verifier.verify(token);
    clock.ms += 5_000;
    await verifier.verify(token);
    expect(calls).toHaveLength(1); // max-age=1 s, but no refresh within the 10 s cooldown
    clock.ms += 6_000;
    await verifier.verify(token);
    expect(calls).toHaveLength(2);
  });

  it('fails with jwks_unavailable when the key set cannot be fetched, and backs off', async () => {
    const port = await freePort(); // nothing listens there
    const counting = countingFetch();
    const clock = testClock();
    const errors: Error[] = [];
    const verifier = createVerifier({
      issuer: tessera.issuer,
      audience: 'tessera',
      jwksUri: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      fetch: counting.fetch,
      now: clock.now,
      onError: (e) => errors.push(e),
    });
    expect(await codeOf(verifier.verify(token))).toBe('jwks_unavailable');
    expect(await codeOf(verifier.verify(token))).toBe('jwks_unavailable');
    expect(counting.calls).toHaveLength(1);
    expect(errors).toHaveLength(1);
    clock.ms += 1_500;
    expect(await codeOf(verifier.verify(token))).toBe('jwks_unavailable');
    expect(counting.calls).toHaveLength(2);
  });

  it.each([
    ['a 500', () => new Response('down', { status: 500 })],
    ['not JSON', () => new Response('<html>')],
    ['JSON without keys', () => new Response('{"issuer":"x"}')],
  ])('fails with jwks_unavailable when the JWKS endpoint answers %s', async (_name, answer) => {
    const verifier = createVerifier({ issuer: tessera.issuer, audience: 'tessera', fetch: async () => answer() });
    const err = await verifier.verify(token).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerifyError);
    expect((err as VerifyError).code).toBe('jwks_unavailable');
  });

  it('ignores keys that are not RSA RS256 signature keys', async () => {
    const attacker = attackerKeys();
    const weak = rsaKeyPair(crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }));
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    const published = {
      keys: [
        { ...ec, kid: 'ec', alg: 'ES256', use: 'sig' },
        { kty: 'oct', kid: 'oct', k: Buffer.from('secret').toString('base64url'), alg: 'HS256' },
        { ...attacker.jwk, kid: 'enc', use: 'enc' },
        { ...attacker.jwk, kid: 'rs512', alg: 'RS512' },
        { ...attacker.jwk, kid: 'ops', key_ops: ['encrypt'] },
        { ...weak.jwk, kid: 'small', alg: 'RS256' },
        { kty: 'RSA', kid: 'broken', n: 'AQAB', e: 'AQAB' },
        'not a key',
        ...tessera.t.keys.jwks().body.keys,
      ],
    };
    const verifier = createVerifier({ issuer: tessera.issuer, audience: 'tessera', fetch: async () => Response.json(published) });
    await expect(verifier.verify(token)).resolves.toMatchObject({ aud: 'tessera' });
    const claims = { iss: tessera.issuer, aud: 'tessera' };
    for (const kid of ['enc', 'rs512', 'ops']) {
      expect(await codeOf(verifier.verify(forgeToken({ header: accessHeader(kid), payload: claims, key: attacker.privateKey })))).toBe('unknown_kid');
    }
    expect(await codeOf(verifier.verify(forgeToken({ header: accessHeader('small'), payload: claims, key: weak.privateKey })))).toBe('unknown_kid');
    expect(await codeOf(verifier.verify(forgeToken({ header: accessHeader('oct'), payload: claims, key: attacker.privateKey })))).toBe('unknown_kid');
  });
});

describe('verify cache', () => {
  const cachedVerifier = (extra: Partial<VerifierOptions> = {}) => {
    const clock = testClock();
    const verifier = createVerifier({ issuer: tessera.issuer, audience: 'tessera', now: clock.now, cache: { maxEntries: 2 }, ...extra });
    return { clock, verifier };
  };

  it('returns the same claims for a repeated token', async () => {
    const { verifier } = cachedVerifier();
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    expect(second).toBe(first); // the very object: no second parse, no RSA work
    const uncached = createVerifier({ issuer: tessera.issuer, audience: 'tessera' });
    const a = await uncached.verify(token);
    expect(await uncached.verify(token)).not.toBe(a);
    expect(await uncached.verify(token)).toEqual(first);
  });

  it('is bounded: the least recently used token is evicted', async () => {
    const { verifier } = cachedVerifier();
    const [t1, t2, t3] = await Promise.all([1, 2, 3].map(async () => (await signUp(tessera.t.fastify)).tokens.access_token));
    const c1 = await verifier.verify(t1!);
    const c2 = await verifier.verify(t2!);
    expect(await verifier.verify(t1!)).toBe(c1); // t1 is now the most recent
    await verifier.verify(t3!); // evicts t2
    expect(await verifier.verify(t1!)).toBe(c1);
    const again = await verifier.verify(t2!);
    expect(again).not.toBe(c2);
    expect(again).toEqual(c2);
  });

  it('never serves an entry at or past exp', async () => {
    const { clock, verifier } = cachedVerifier();
    const cached = await verifier.verify(token);
    clock.ms = (cached.exp - 1) * 1000;
    expect(await verifier.verify(token)).toBe(cached);
    clock.ms = cached.exp * 1000;
    // Not from the cache; the full check still allows the 5 s clock tolerance...
    const fresh = await verifier.verify(token);
    expect(fresh).not.toBe(cached);
    // ...and refuses past it.
    clock.ms = (cached.exp + 6) * 1000;
    expect(await codeOf(verifier.verify(token))).toBe('expired');
  });

  it('still honours a revocation added after the token was cached', async () => {
    for (const entry of ['session', 'token', 'user'] as const) {
      const mirror = new DenylistMirror();
      const { clock, verifier } = cachedVerifier({ revocation: { mirror } });
      const claims = await verifier.verify(token);
      expect(await verifier.verify(token)).toBe(claims);
      const until = clock.ms + 3_600_000;
      if (entry === 'session') mirror.apply({ kind: 'session', id: claims.sid, until });
      if (entry === 'token') mirror.apply({ kind: 'token', id: claims.jti, until });
      if (entry === 'user') mirror.apply({ kind: 'user', id: claims.sub, before: claims.iat + 1, until });
      const err = await verifier.verify(token).catch((e: unknown) => e);
      expect(err, entry).toBeInstanceOf(VerifyError);
      expect((err as VerifyError).code, entry).toBe('revoked');
    }
  });
});

describe('key rotation', () => {
  let rotated: ListeningTessera;
  beforeAll(async () => {
    rotated = await listeningTessera();
  });
  afterAll(() => rotated.t.close());

  it('picks up a key published after the last fetch through the unknown-kid refetch', async () => {
    const { t } = rotated;
    const counting = countingFetch();
    const clock = { ms: t.clock.now() };
    const verifier = createVerifier({ issuer: rotated.issuer, audience: 'tessera', fetch: counting.fetch, now: () => clock.ms });
    const before = (await signUp(t.fastify)).tokens.access_token;
    await verifier.verify(before);

    t.clock.advance(1_000);
    await generateKeyFile(t.config.keysDir, { modulusLength: 2048, now: t.clock.now() });
    await t.keys.reload();
    const after = (await signUp(t.fastify)).tokens.access_token;
    expect(decodeJwt(after).header.kid).not.toBe(decodeJwt(before).header.kid);

    expect(await codeOf(verifier.verify(after))).toBe('unknown_kid'); // still in the cooldown
    clock.ms += 31_000;
    await expect(verifier.verify(after)).resolves.toMatchObject({ iss: rotated.issuer });
    await expect(verifier.verify(before)).resolves.toMatchObject({ iss: rotated.issuer }); // old key still published
    expect(counting.calls).toHaveLength(2);
  });
});

describe('options', () => {
  const base = { issuer: 'https://auth.example.com', audience: 'tessera' };

  it.each([
    ['no options', undefined, /options must be an object/],
    ['a missing issuer', { audience: 'tessera' }, /"issuer"/],
    ['an empty issuer', { ...base, issuer: '' }, /"issuer"/],
    ['an issuer that is no URL and no jwksUri', { ...base, issuer: 'tessera' }, /"issuer".*http\(s\) URL/],
    ['a missing audience', { issuer: base.issuer }, /"audience"/],
    ['an empty audience list', { ...base, audience: [] }, /"audience"/],
    ['a non-http jwksUri', { ...base, jwksUri: 'file:///etc/jwks.json' }, /"jwksUri"/],
    ['a negative clockTolerance', { ...base, clockTolerance: -1 }, /"clockTolerance"/],
    ['a NaN jwksCooldownMs', { ...base, jwksCooldownMs: NaN }, /"jwksCooldownMs"/],
    ['a fractional maxTokenLength', { ...base, maxTokenLength: 10.5 }, /"maxTokenLength"/],
    ['a zero-entry cache', { ...base, cache: { maxEntries: 0 } }, /"cache.maxEntries"/],
    ['a cache given as a number', { ...base, cache: 100 }, /"cache"/],
    ['revocation without redisUrl or mirror', { ...base, revocation: {} }, /"revocation"/],
    ['a non-redis redisUrl', { ...base, revocation: { redisUrl: 'http://redis' } }, /"revocation.redisUrl"/],
    ['redisUrl and redisSentinel together', { ...base, revocation: { redisUrl: 'redis://r', redisSentinel: { sentinels: [{ host: 's', port: 26379 }] } } }, /"revocation" takes one source of revocations, got "redisUrl" and "redisSentinel"/],
    ['a redisSentinel without sentinels', { ...base, revocation: { redisSentinel: { sentinels: [] } } }, /"revocation.redisSentinel.sentinels"/],
    ['a sentinel given as a string', { ...base, revocation: { redisSentinel: { sentinels: ['127.0.0.1:26379'] } } }, /"revocation.redisSentinel.sentinels"/],
    ['a sentinel port out of range', { ...base, revocation: { redisSentinel: { sentinels: [{ host: 's', port: 70000 }] } } }, /"revocation.redisSentinel.sentinels"/],
    ['an empty sentinel name', { ...base, revocation: { redisSentinel: { sentinels: [{ host: 's', port: 1 }], name: '' } } }, /"revocation.redisSentinel.name"/],
    ['a numeric sentinel password', { ...base, revocation: { redisSentinel: { sentinels: [{ host: 's', port: 1 }], sentinelPassword: 1234 } } }, /"revocation.redisSentinel.sentinelPassword"/],
    ['an empty sentinel-mode username', { ...base, revocation: { redisSentinel: { sentinels: [{ host: 's', port: 1 }], username: '', password: 'p' } } }, /"revocation.redisSentinel.username"/],
    ['a numeric sentinelUsername', { ...base, revocation: { redisSentinel: { sentinels: [{ host: 's', port: 1 }], sentinelUsername: 7, sentinelPassword: 'p' } } }, /"revocation.redisSentinel.sentinelUsername"/],
    ['a username without its password', { ...base, revocation: { redisSentinel: { sentinels: [{ host: 's', port: 1 }], username: 'tessera' } } }, /"revocation.redisSentinel.password" must be given with username/],
    ['a sentinel tls given as a string', { ...base, revocation: { redisSentinel: { sentinels: [{ host: 's', port: 1 }], tls: 'yes' } } }, /"revocation.redisSentinel.tls" must be true, false or \{ ca \}/],
    ['a sentinel tls that skips certificate checks', { ...base, revocation: { redisSentinel: { sentinels: [{ host: 's', port: 1 }], tls: { rejectUnauthorized: false } } } }, /"revocation.redisSentinel.tls".*cannot be turned off/],
    ['an empty sentinelTls ca', { ...base, revocation: { redisSentinel: { sentinels: [{ host: 's', port: 1 }], sentinelTls: { ca: '' } } } }, /"revocation.redisSentinel.sentinelTls"/],
    ['a sentinelUsername without its password', { ...base, revocation: { redisSentinel: { sentinels: [{ host: 's', port: 1 }], sentinelUsername: 'admin', password: 'p' } } }, /"revocation.redisSentinel.sentinelPassword" must be given with sentinelUsername/],
    ['a negative sentinel db', { ...base, revocation: { redisSentinel: { sentinels: [{ host: 's', port: 1 }], db: -1 } } }, /"revocation.redisSentinel.db"/],
    ['redisSentinel and redisCluster together', { ...base, revocation: { redisSentinel: { sentinels: [{ host: 's', port: 1 }] }, redisCluster: { nodes: [{ host: 'c', port: 1 }] } } }, /got "redisSentinel" and "redisCluster"/],
    ['a redisCluster without nodes', { ...base, revocation: { redisCluster: { nodes: [] } } }, /"revocation.redisCluster.nodes"/],
    ['a cluster node given as a string', { ...base, revocation: { redisCluster: { nodes: ['127.0.0.1:7000'] } } }, /"revocation.redisCluster.nodes"/],
    ['a cluster username without its password', { ...base, revocation: { redisCluster: { nodes: [{ host: 'c', port: 1 }], username: 'tessera' } } }, /"revocation.redisCluster.password" must be given with username/],
    ['a cluster tls that skips certificate checks', { ...base, revocation: { redisCluster: { nodes: [{ host: 'c', port: 1 }], tls: { rejectUnauthorized: false } } } }, /"revocation.redisCluster.tls".*cannot be turned off/],
    ['a Sentinel option in redisCluster', { ...base, revocation: { redisCluster: { nodes: [{ host: 'c', port: 1 }], name: 'mymaster' } } }, /unknown option "revocation.redisCluster.name"/],
    ['a key prefix with a brace on a cluster', { ...base, revocation: { redisCluster: { nodes: [{ host: 'c', port: 1 }] }, keyPrefix: 'app{1}:' } }, /"revocation.keyPrefix" must be a prefix without \{ or \} with redisCluster/],
    ['a mirror that is not a DenylistMirror', { ...base, revocation: { mirror: { isRevoked: () => false } } }, /"revocation.mirror"/],
    ['a fetch that is not a function', { ...base, fetch: 'fetch' }, /"fetch"/],
    ['a misspelt option', { ...base, audiance: 'x' }, /unknown option "audiance"/],
  ])('throws a TypeError for %s', (_name, options, message) => {
    expect(() => createVerifier(options as unknown as VerifierOptions)).toThrow(TypeError);
    expect(() => createVerifier(options as unknown as VerifierOptions)).toThrow(message);
  });

  it('accepts a non-URL issuer when jwksUri is given, and audience lists', () => {
    expect(() => createVerifier({ issuer: 'tessera', audience: ['a', 'b'], jwksUri: 'https://auth.example.com/jwks' })).not.toThrow();
  });

  it('refuses to verify after close()', async () => {
    const verifier = createVerifier({ issuer: tessera.issuer, audience: 'tessera' });
    await verifier.close();
    await expect(verifier.verify(token)).rejects.toThrow(/closed/);
  });
});

describe('sentinelRedisOptions: TLS', () => {
  const sentinels = [{ host: 's', port: 26379 }];
  it('sentinelTls follows tls unless given; only the CA reaches ioredis', () => {
    expect(sentinelRedisOptions({ sentinels })).not.toHaveProperty('tls');
    expect(sentinelRedisOptions({ sentinels, tls: true })).toMatchObject({ tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} });
    const dataOnly = sentinelRedisOptions({ sentinels, tls: { ca: 'PEM' }, sentinelTls: false });
    expect(dataOnly).toMatchObject({ tls: { ca: 'PEM' }, enableTLSForSentinelMode: true });
    expect(dataOnly).not.toHaveProperty('sentinelTLS');
    const sentinelsOnly = sentinelRedisOptions({ sentinels, sentinelTls: { ca: 'PEM' } });
    expect(sentinelsOnly).toMatchObject({ sentinelTLS: { ca: 'PEM' } });
    expect(sentinelsOnly).not.toHaveProperty('enableTLSForSentinelMode');
    // A stray Node option (past the type) is not copied: verification stays on.
    const stray = sentinelRedisOptions({ sentinels, tls: { ca: 'PEM', rejectUnauthorized: false } as { ca: string } });
    expect(stray.tls).toEqual({ ca: 'PEM' });
  });
});
