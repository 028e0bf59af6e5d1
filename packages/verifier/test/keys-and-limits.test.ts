// The verify cache follows the key set, tokens cannot choose their own lifetime, the clock
// tolerance stays within the skew revocations are kept for, and a JWKS answer is capped
// while it is read, not after.
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { createVerifier, DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, MAX_CLOCK_SKEW_SECONDS } from '@tessera/verifier';
import { tesseraAuth } from '@tessera/verifier/fastify';
import { freePort } from '../../../scripts/lib/ports.ts';
import { refusalCode, useTestIssuer } from './issuer.ts';

const idp = useTestIssuer();


describe('the verify cache and the key set', () => {
  it('refreshKeys() after a key is withdrawn: a cached token signed with it is refused', async () => {
    const verifier = createVerifier({ issuer: idp().issuer, audience: 'tessera', cache: true });
    const extra = idp().addKey();
    const token = extra.sign();
    await verifier.verify(token);
    await verifier.verify(token); // now a cache hit
    idp().withdraw(extra.kid);
    await verifier.refreshKeys();
    expect(await refusalCode(verifier.verify(token))).toBe('unknown_kid');
    // Tokens of the keys still published keep verifying (and stay cacheable).
    const kept = idp().sign();
    await verifier.verify(kept);
    await verifier.refreshKeys();
    await verifier.verify(kept);
    await verifier.close();
  });

  it('a background refresh that drops the key drops its cached tokens too', async () => {
    let now = Date.now();
    const verifier = createVerifier({
      issuer: idp().issuer,
      audience: 'tessera',
      cache: true,
      now: () => now,
      jwksMaxAgeMs: 60_000,
      jwksCooldownMs: 1_000,
    });
    const extra = idp().addKey();
    const token = extra.sign();
    await verifier.verify(token);
    idp().withdraw(extra.kid);
    const before = idp().jwksRequests();
    now += 120_000; // the set is stale: the next lookup refreshes it in the background
    await verifier.verify(idp().sign()); // another token: triggers the refresh
    for (let i = 0; i < 100 && idp().jwksRequests() === before; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    expect(await refusalCode(verifier.verify(token))).toBe('unknown_kid');
    await verifier.close();
  });
});

describe('token lifetime', () => {
  it(`refuses exp - iat above maxTokenLifetime (default ${DEFAULT_MAX_TOKEN_LIFETIME_SECONDS} s)`, async () => {
    expect(DEFAULT_MAX_TOKEN_LIFETIME_SECONDS).toBe(900 + MAX_CLOCK_SKEW_SECONDS);
    const verifier = createVerifier({ issuer: idp().issuer, audience: 'tessera', cache: true });
    const iat = Math.floor(Date.now() / 1000);
    expect(await refusalCode(verifier.verify(idp().sign({ iat, exp: iat + 365 * 24 * 3600 })))).toBe('lifetime_too_long');
    expect(await refusalCode(verifier.verify(idp().sign({ iat, exp: iat + DEFAULT_MAX_TOKEN_LIFETIME_SECONDS + 1 })))).toBe('lifetime_too_long');
    await verifier.verify(idp().sign({ iat, exp: iat + DEFAULT_MAX_TOKEN_LIFETIME_SECONDS }));
    await verifier.close();

    const longer = createVerifier({ issuer: idp().issuer, audience: 'tessera', maxTokenLifetime: 3600 + MAX_CLOCK_SKEW_SECONDS });
    await longer.verify(idp().sign({ iat, exp: iat + 3600 }));
    await longer.close();
    expect(() => createVerifier({ issuer: idp().issuer, audience: 'tessera', maxTokenLifetime: 0 })).toThrow(/"maxTokenLifetime"/);
  });

  it(`refuses a clockTolerance above MAX_CLOCK_SKEW_SECONDS (${MAX_CLOCK_SKEW_SECONDS} s)`, () => {
    expect(() => createVerifier({ issuer: idp().issuer, audience: 'tessera', clockTolerance: MAX_CLOCK_SKEW_SECONDS + 1 })).toThrow(
      /"clockTolerance" must be at most 60/,
    );
    expect(() => createVerifier({ issuer: idp().issuer, audience: 'tessera', clockTolerance: MAX_CLOCK_SKEW_SECONDS })).not.toThrow();
  });
});

describe('the JWKS size cap', () => {
  const CHUNK = new Uint8Array(64 * 1024).fill(0x20);
  const TOTAL = 8 * 1024 * 1024;

  /** A fetch whose answer is TOTAL bytes of whitespace, counting what the verifier pulled. */
  function hugeFetch(headers: Record<string, string>) {
    const stats = { produced: 0 };
    const fetch: typeof globalThis.fetch = async () => {
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (stats.produced >= TOTAL) return controller.close();
          stats.produced += CHUNK.byteLength;
          controller.enqueue(CHUNK);
        },
      }, { highWaterMark: 0 });
      return new Response(body, { status: 200, headers: { 'content-type': 'application/json', ...headers } });
    };
    return { fetch, stats };
  }

  it('stops reading a body without Content-Length once it passes the cap', async () => {
    const { fetch, stats } = hugeFetch({});
    const errors: Error[] = [];
    const verifier = createVerifier({ issuer: idp().issuer, audience: 'tessera', fetch, onError: (e) => errors.push(e) });
    expect(await refusalCode(verifier.verify(idp().sign()))).toBe('jwks_unavailable');
    expect(errors[0]?.message).toMatch(/larger than/);
    expect(stats.produced).toBeLessThan(1024 * 1024);
    await verifier.close();
  });

  it('refuses a declared Content-Length over the cap before reading the body', async () => {
    const { fetch, stats } = hugeFetch({ 'content-length': String(TOTAL) });
    const errors: Error[] = [];
    const verifier = createVerifier({ issuer: idp().issuer, audience: 'tessera', fetch, onError: (e) => errors.push(e) });
    expect(await refusalCode(verifier.verify(idp().sign()))).toBe('jwks_unavailable');
    expect(errors[0]?.message).toMatch(/Content-Length/);
    expect(stats.produced).toBeLessThanOrEqual(CHUNK.byteLength);
    await verifier.close();
  });
});

describe('the Fastify plugin on a JWKS outage', () => {
  it('answers 503 and logs the cause (ECONNREFUSED), not only the reason', async () => {
    const lines: string[] = [];
    const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => void lines.push(line) } } });
    // Nothing listens on that port: the fetch is refused.
    await app.register(tesseraAuth, { issuer: `http://127.0.0.1:${await freePort()}`, audience: 'tessera' });
    app.get('/me', { preHandler: app.requireAuth }, async () => ({ ok: true }));
    const res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${idp().sign()}` } });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'service_unavailable', reason: 'jwks_unavailable' });
    expect(res.body).not.toContain('ECONNREFUSED');
    const logged = lines.map((l) => JSON.parse(l) as { level: number; cause?: { message: string; code?: string } });
    const line = logged.find((l) => l.cause !== undefined);
    expect(line, lines.join('\n')).toBeDefined();
    expect(line!.level).toBeGreaterThanOrEqual(50);
    expect(line!.cause!.message).toContain('ECONNREFUSED');
    await app.close();
  });
});
