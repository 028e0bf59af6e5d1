// Every JWT attack class (RFC 8725, OWASP JWT Cheat Sheet) against the server's own
// verification: GET /auth/me must answer 401 invalid_token (with the reason and
// WWW-Authenticate), and /oauth/introspect `{active: false}` and nothing else. Each forged
// token differs from a valid one in one respect only; the control case proves it.
import crypto from 'node:crypto';
import net from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeyFiles, generateKeyFile } from '../../src/keys/key-files.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, decodeJwt, expectProblem, signUp } from '../helpers/flows.ts';
import { accessHeader, attackerKeys, b64url, forgeToken, type JsonObject } from '../helpers/forge.ts';

let t: TestApp;
let real: { token: string; refreshToken: string; kid: string; key: crypto.KeyObject; claims: JsonObject };

beforeAll(async () => {
  t = await createTestApp({ db: 'pglite', env: { INTROSPECTION_CLIENTS: 'rs:secret' } });
  const { tokens } = await signUp(t.fastify);
  const { kid, privateKey } = t.keys.signingKey();
  real = { token: tokens.access_token, refreshToken: tokens.refresh_token, kid, key: privateKey, claims: decodeJwt(tokens.access_token).payload };
});
afterAll(() => t.close());

const now = () => Math.floor(t.clock.now() / 1000);
/** The real user's claims with a fresh jti, and overrides (`undefined` removes a claim). */
function claims(overrides: JsonObject = {}): JsonObject {
  const out: JsonObject = { ...real.claims, jti: crypto.randomUUID(), iat: now(), exp: now() + 600, ...overrides };
  for (const [name, value] of Object.entries(out)) if (value === undefined) delete out[name];
  return out;
}
const realSigned = (header: JsonObject, payload: JsonObject = claims()) => forgeToken({ header, payload, key: real.key });

const me = (token: string) => t.fastify.inject({ method: 'GET', url: '/auth/me', headers: bearer(token) });
const introspect = (token: string) =>
  t.fastify.inject({
    method: 'POST',
    url: '/oauth/introspect',
    payload: new URLSearchParams({ token }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('rs:secret').toString('base64')}` },
  });

/** Refused by both: /auth/me 401 invalid_token (with `reason` when given), introspection inactive. */
async function expectRefused(token: string, reason?: string): Promise<void> {
  const res: LightMyRequestResponse = await me(token);
  const problem = expectProblem(res, 401, 'invalid_token') as unknown as { reason?: string };
  expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  if (reason !== undefined) expect(problem.reason).toBe(reason);
  const inspected = await introspect(token);
  if (token.length > 4096) {
    // Longer than any token we issue: refused as a bad parameter before any parsing.
    expect(inspected.statusCode, inspected.body).toBe(400);
    expect(inspected.json()).toMatchObject({ error: 'invalid_request' });
    return;
  }
  expect(inspected.statusCode, inspected.body).toBe(200);
  expect(inspected.json()).toEqual({ active: false });
}

async function expectBearerRefused(token: string, reason: string): Promise<void> {
  const res = await me(token);
  const problem = expectProblem(res, 401, 'invalid_token') as unknown as { reason?: string };
  expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  expect(problem.reason).toBe(reason);
}

describe('control', () => {
  it('a token forged with the real key and the real claims is accepted: the forging is faithful', async () => {
    expect((await me(realSigned(accessHeader(real.kid)))).statusCode).toBe(200);
    expect((await introspect(realSigned(accessHeader(real.kid)))).json()).toMatchObject({ active: true, sub: real.claims.sub });
    expect((await me(real.token)).statusCode).toBe(200);
  });
});

describe('algorithm', () => {
  it.each(['none', 'None', 'NONE', 'nOnE', 'NoNe'])('alg %s: unsigned, with a junk signature, and RS256-signed', async (alg) => {
    const header = accessHeader(real.kid, { alg });
    await expectRefused(forgeToken({ header, payload: claims() }));
    await expectRefused(forgeToken({ header, payload: claims(), signature: 'AAAA' }), 'unsupported_alg');
    await expectRefused(forgeToken({ header, payload: claims(), key: real.key }), 'unsupported_alg');
  });

  it('no alg at all', async () => {
    const { alg: _alg, ...header } = accessHeader(real.kid);
    await expectRefused(realSigned(header), 'unsupported_alg');
  });

  it('RS256 → HS256 key confusion: HMAC keyed with the public key (PEM, DER, JWK n, the JWKS)', async () => {
    const publicKey = crypto.createPublicKey(real.key);
    const secrets: (string | Buffer)[] = [
      publicKey.export({ format: 'pem', type: 'spki' }) as string,
      publicKey.export({ format: 'pem', type: 'pkcs1' }) as string,
      publicKey.export({ format: 'der', type: 'spki' }),
      String(publicKey.export({ format: 'jwk' }).n),
      t.keys.jwks().json,
    ];
    for (const alg of ['HS256', 'hs256']) {
      for (const hmacSecret of secrets) await expectRefused(forgeToken({ header: accessHeader(real.kid, { alg }), payload: claims(), hmacSecret }), 'unsupported_alg');
    }
  });
});

describe('signature', () => {
  it('empty signature, stripped signature, and the signature of another token', async () => {
    const [h, p] = realSigned(accessHeader(real.kid)).split('.');
    await expectRefused(`${h}.${p}.`, 'malformed');
    await expectRefused(`${h}.${p}`, 'malformed');
    const otherSignature = real.token.split('.')[2];
    await expectRefused(`${h}.${p}.${otherSignature}`, 'invalid_signature');
  });

  it('a tampered payload under the original signature', async () => {
    const [h, , s] = real.token.split('.');
    await expectRefused(`${h}.${b64url(claims({ sub: crypto.randomUUID() }))}.${s}`, 'invalid_signature');
  });

  it('an attacker key under the real kid', async () => {
    await expectRefused(forgeToken({ header: accessHeader(real.kid), payload: claims(), key: attackerKeys().privateKey }), 'invalid_signature');
  });
});

describe('key injection through the header', () => {
  const attacker = () => attackerKeys();
  it.each([
    ['jwk (embedded attacker key)', () => ({ jwk: { ...attacker().jwk, kid: real.kid } })],
    ['jku (attacker JWKS URL)', () => ({ jku: 'https://attacker.example/jwks.json' })],
    ['x5u (attacker certificate URL)', () => ({ x5u: 'https://attacker.example/cert.pem' })],
    ['x5c (attacker certificate chain)', () => ({ x5c: [attacker().pem.replace(/-----[^-]+-----|\n/g, '')] })],
  ])('%s, signed by the attacker', async (_name, extra) => {
    await expectRefused(forgeToken({ header: accessHeader(real.kid, extra()), payload: claims(), key: attacker().privateKey }));
    // Even with a valid signature by the real key, a token carrying them is refused outright.
    await expectRefused(realSigned(accessHeader(real.kid, extra())), 'forbidden_header');
  });
});

describe('kid', () => {
  it.each([
    '../../../../../../dev/null',
    '../keys/../../etc/passwd',
    '/etc/passwd',
    `${'../'.repeat(20)}proc/self/environ`,
    "' OR '1'='1",
    "x'; DROP TABLE users; --",
    'kid\u0000.pem',
    '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  ])('kid %j (path traversal, SQL, NUL) is an unknown key', async (kid) => {
    await expectRefused(forgeToken({ header: accessHeader(kid), payload: claims(), hmacSecret: '' }));
    await expectRefused(realSigned(accessHeader(kid)), 'unknown_kid');
  });

  it('an unknown kid, a missing kid, a non-string kid, an overlong kid', async () => {
    await expectRefused(forgeToken({ header: accessHeader('attacker-kid'), payload: claims(), key: attackerKeys().privateKey }), 'unknown_kid');
    const { kid: _kid, ...noKid } = accessHeader(real.kid);
    await expectRefused(realSigned(noKid), 'malformed');
    await expectRefused(realSigned(accessHeader(real.kid, { kid: 42 })), 'malformed');
    await expectRefused(realSigned(accessHeader(real.kid, { kid: [real.kid] })), 'malformed');
    await expectRefused(realSigned(accessHeader('k'.repeat(5000))), 'malformed');
  });

  it('a token signed by a key that was removed from keys/', async () => {
    const extra = await generateKeyFile(t.config.keysDir, { modulusLength: 2048, now: t.clock.now(), activatesAt: t.clock.now() + 86_400_000 });
    await t.keys.reload();
    const token = forgeToken({ header: accessHeader(extra.meta.kid), payload: claims(), key: extra.privateKey });
    expect((await me(token)).statusCode).toBe(200); // trusted while its key is published
    await deleteKeyFiles(t.config.keysDir, extra.meta.kid);
    await t.keys.reload();
    t.clock.advance(10_000); // past the reload cool-down: an unknown kid may trigger a re-read
    await expectRefused(forgeToken({ header: accessHeader(extra.meta.kid), payload: claims(), key: extra.privateKey }), 'unknown_kid');
  });
});

describe('header parameters', () => {
  it.each([
    [{ crit: ['exp'] }],
    [{ crit: ['tessera-unknown'], 'tessera-unknown': true }],
    [{ crit: [] }],
    [{ b64: false, crit: ['b64'] }],
  ])('crit %j is refused', async (extra) => {
    await expectRefused(realSigned(accessHeader(real.kid, extra)), 'forbidden_header');
  });

  it.each([
    ['JWT', 'a plain JWT'],
    ['id_token+jwt', 'an ID token'],
    ['application/jwt', 'the media type of any JWT'],
    ['at+jwt ', 'a near miss'],
  ])('typ %j (%s) is not an access token', async (typ) => {
    await expectRefused(realSigned(accessHeader(real.kid, { typ })), 'invalid_type');
  });

  it('a missing typ is refused', async () => {
    const { typ: _typ, ...header } = accessHeader(real.kid);
    await expectRefused(realSigned(header), 'invalid_type');
  });

  it('an ID-token-shaped JWT signed by the real key does not pass as an access token', async () => {
    const idToken = claims({ aud: 'some-client', nonce: 'n-0S6_WzA2Mj', auth_time: now(), azp: 'some-client', client_id: undefined, sid: undefined, jti: undefined });
    await expectRefused(realSigned({ alg: 'RS256', typ: 'JWT', kid: real.kid }, idToken));
    await expectRefused(realSigned(accessHeader(real.kid), idToken));
  });
});

describe('claims', () => {
  it.each([
    ['expired', () => ({ exp: now() - 120, iat: now() - 1000 }), 'expired'],
    ['not yet valid (nbf)', () => ({ nbf: now() + 3600 }), 'not_yet_valid'],
    ['issued in the future', () => ({ iat: now() + 3600, exp: now() + 7200 }), 'not_yet_valid'],
    ['wrong iss', () => ({ iss: 'https://attacker.example' }), 'invalid_issuer'],
    ['iss with a trailing slash', () => ({ iss: `${String(real.claims.iss)}/` }), 'invalid_issuer'],
    ['wrong aud', () => ({ aud: 'another-api' }), 'invalid_audience'],
    ['aud list without ours', () => ({ aud: ['a', 'b'] }), 'invalid_audience'],
    ['missing aud', () => ({ aud: undefined }), 'invalid_audience'],
    ['missing exp', () => ({ exp: undefined }), 'missing_claim'],
    ['exp as a string', () => ({ exp: String(now() + 600) }), 'missing_claim'],
    ['missing sub', () => ({ sub: undefined }), 'missing_claim'],
    ['missing sid', () => ({ sid: undefined }), 'missing_claim'],
    // A stolen signing key cannot mint tokens that outlive every denylist entry.
    ['a lifetime over ACCESS_TOKEN_TTL + skew', () => ({ exp: now() + 365 * 24 * 3600 }), 'lifetime_too_long'],
    ['one second over ACCESS_TOKEN_TTL + skew', () => ({ exp: now() + t.config.accessTokenTtl + 61 }), 'lifetime_too_long'],
  ])('%s', async (_name, overrides, reason) => {
    await expectRefused(realSigned(accessHeader(real.kid), claims(overrides())), reason);
  });
});

describe('shape', () => {
  it('a refresh token used as a bearer token', async () => {
    await expectBearerRefused(real.refreshToken, 'malformed');
    await expectBearerRefused(`${real.refreshToken}.${real.refreshToken}.${real.refreshToken}`, 'malformed');
    // Introspection knows it for what it is: a refresh token, never a Bearer access token.
    expect((await introspect(real.refreshToken)).json()).toMatchObject({ active: true, token_type: 'refresh_token' });
  });

  it.each([
    ['one segment', (tk: string) => tk.split('.')[0]!],
    ['four segments', (tk: string) => `${tk}.${tk.split('.')[2]}`],
    ['five segments (JWE-shaped)', (tk: string) => `${tk}.AAAA.BBBB`],
    ['an empty header', (tk: string) => `.${tk.split('.').slice(1).join('.')}`],
    ['padding characters', (tk: string) => `${tk}==`],
    ['a non-JSON header', (tk: string) => `${b64url('not json')}.${tk.split('.').slice(1).join('.')}`],
    ['a JSON array header', (tk: string) => `${b64url('[1,2]')}.${tk.split('.').slice(1).join('.')}`],
    ['a non-JSON payload', (tk: string) => `${tk.split('.')[0]}.${b64url('nope')}.${tk.split('.')[2]}`],
  ])('%s', async (_name, mangle) => {
    await expectRefused(mangle(realSigned(accessHeader(real.kid))), 'malformed');
  });

  it('a 1 MB token: 401 in-process, 431 (never a crash) over a real socket, and introspection stays 4xx', async () => {
    const huge = realSigned(accessHeader(real.kid), claims({ pad: 'x'.repeat(1024 * 1024) }));
    expectProblem(await me(huge), 401, 'invalid_token');
    const form = await introspect(huge);
    expect(form.statusCode).toBeGreaterThanOrEqual(400);
    expect(form.statusCode).toBeLessThan(500);
    expect(form.json()).toMatchObject({ error: 'invalid_request' });

    await t.fastify.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.fastify.server.address() as net.AddressInfo;
    const head = await rawRequest(port, `GET /auth/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${huge}\r\nConnection: close\r\n\r\n`);
    expect(head).toMatch(/^HTTP\/1\.1 431 /);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
  });
});

/** Sends raw bytes and returns whatever comes back (the server may close while we still write). */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.end(request));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer in 10 s')));
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', (err: NodeJS.ErrnoException) => (received ? resolve(received) : err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(received) : reject(err)));
    socket.on('close', () => resolve(received));
  });
}
