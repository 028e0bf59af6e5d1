// Every JWT attack class we know of, thrown at the verifier library with a real Tessera
// publishing the real JWKS. Each case asserts the reason `code`, not only a rejection.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, type Verifier } from '@tessera/verifier';
import { deleteKeyFiles, generateKeyFile } from '../../src/keys/key-files.ts';
import { decodeJwt, signUp } from '../helpers/flows.ts';
import { accessClaims, accessHeader, attackerKeys, b64url, forgeToken, type JsonObject } from '../helpers/forge.ts';
import { codeOf, countingFetch, listeningTessera, type CountingFetch, type ListeningTessera } from './kit.ts';

let tessera: ListeningTessera;
let verifier: Verifier;
let counting: CountingFetch;
/** A real access token, its kid and Tessera's signing key (to forge tokens that differ in one respect only). */
let real: { token: string; refreshToken: string; kid: string; key: crypto.KeyObject; publicJwk: JsonObject };

beforeAll(async () => {
  tessera = await listeningTessera();
  const { tokens } = await signUp(tessera.t.fastify);
  const { kid, privateKey } = tessera.t.keys.signingKey();
  const publicJwk = tessera.t.keys.jwks().body.keys.find((k) => k.kid === kid)!;
  real = { token: tokens.access_token, refreshToken: tokens.refresh_token, kid, key: privateKey, publicJwk: { ...publicJwk } };
  counting = countingFetch();
  verifier = createVerifier({ issuer: tessera.issuer, audience: 'tessera', fetch: counting.fetch, now: () => tessera.t.clock.now() });
  await expect(verifier.verify(real.token)).resolves.toMatchObject({ iss: tessera.issuer });
});
afterAll(async () => {
  await verifier.close();
  await tessera.t.close();
});

const claims = (overrides: JsonObject = {}) => accessClaims(tessera.issuer, 'tessera', overrides, tessera.t.clock.now());
/** Signed with Tessera's real key: only the named aspect is wrong. */
const realSigned = (header: JsonObject, payload: JsonObject = claims()) => forgeToken({ header, payload, key: real.key });
const rejects = (token: string) => codeOf(verifier.verify(token));

describe('the forging helper', () => {
  it('produces a token the verifier accepts when nothing is wrong (the control case)', async () => {
    await expect(verifier.verify(realSigned(accessHeader(real.kid)))).resolves.toMatchObject({ aud: 'tessera' });
  });
});

describe('alg', () => {
  it.each(['none', 'None', 'NONE', 'nOnE'])('alg %s is refused (unsigned and with a junk signature)', async (alg) => {
    const header = accessHeader(real.kid, { alg });
    expect(await rejects(forgeToken({ header, payload: claims() }))).toBe('malformed'); // `h.p.`: empty signature
    expect(await rejects(forgeToken({ header, payload: claims(), signature: 'AAAA' }))).toBe('unsupported_alg');
    expect(await rejects(forgeToken({ header, payload: claims(), key: real.key }))).toBe('unsupported_alg');
  });

  it('an absent alg is refused', async () => {
    const { alg: _alg, ...header } = accessHeader(real.kid);
    expect(await rejects(realSigned(header))).toBe('unsupported_alg');
  });

  it.each(['HS256', 'HS384', 'HS512', 'RS384', 'RS512', 'PS256', 'ES256', 'EdDSA', 'rs256'])('alg %s is refused', async (alg) => {
    expect(await rejects(realSigned(accessHeader(real.kid, { alg })))).toBe('unsupported_alg');
  });
});

describe('signature', () => {
  it('an empty signature is refused', async () => {
    const [h, p] = real.token.split('.');
    expect(await rejects(`${h}.${p}.`)).toBe('malformed');
  });

  it('a stripped signature (two segments) is refused', async () => {
    const [h, p] = real.token.split('.');
    expect(await rejects(`${h}.${p}`)).toBe('malformed');
  });

  it('a signature by an attacker key under Tessera\'s kid is refused', async () => {
    const token = forgeToken({ header: accessHeader(real.kid), payload: claims(), key: attackerKeys().privateKey });
    expect(await rejects(token)).toBe('invalid_signature');
  });

  it('a tampered payload under the original signature is refused', async () => {
    const [h, p, s] = real.token.split('.');
    const payload = { ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: crypto.randomUUID() };
    expect(await rejects(`${h}.${b64url(payload)}.${s}`)).toBe('invalid_signature');
  });

  it('a bit-flipped or truncated signature is refused', async () => {
    const [h, p, s] = real.token.split('.');
    const sig = Buffer.from(s!, 'base64url');
    sig[10] = sig[10]! ^ 0x01;
    expect(await rejects(`${h}.${p}.${sig.toString('base64url')}`)).toBe('invalid_signature');
    expect(await rejects(`${h}.${p}.${sig.subarray(0, 128).toString('base64url')}`)).toBe('invalid_signature');
  });
});

describe('RS256 → HS256 key confusion', () => {
  const secrets = () => ({
    'the public key PEM (SPKI)': crypto.createPublicKey({ key: real.publicJwk, format: 'jwk' }).export({ format: 'pem', type: 'spki' }) as string,
    'the public key PEM (PKCS#1)': crypto.createPublicKey({ key: real.publicJwk, format: 'jwk' }).export({ format: 'pem', type: 'pkcs1' }) as string,
    'the JWK n': real.publicJwk.n as string,
    'the JWK n, decoded': Buffer.from(real.publicJwk.n as string, 'base64url'),
    'the whole JWK as JSON': JSON.stringify(real.publicJwk),
  });

  it('an HMAC signature keyed with any form of the public key is refused', async () => {
    for (const [name, secret] of Object.entries(secrets())) {
      for (const alg of ['HS256', 'hs256', 'RS256']) {
        const token = forgeToken({ header: accessHeader(real.kid, { alg }), payload: claims(), hmacSecret: secret });
        expect(await rejects(token), `${alg} with ${name}`).toBe(alg === 'RS256' ? 'invalid_signature' : 'unsupported_alg');
      }
    }
  });
});

describe('header parameters that choose the key', () => {
  it('an embedded jwk (attacker key, signed with it) is refused', async () => {
    const attacker = attackerKeys();
    const header = accessHeader(real.kid, { jwk: { ...attacker.jwk, kid: real.kid } });
    expect(await rejects(forgeToken({ header, payload: claims(), key: attacker.privateKey }))).toBe('forbidden_header');
    expect(await rejects(forgeToken({ header: { ...header, kid: undefined }, payload: claims(), key: attacker.privateKey }))).toBe('forbidden_header');
  });

  it.each([
    ['jku', 'https://attacker.example/jwks.json'],
    ['x5u', 'https://attacker.example/cert.pem'],
    ['x5c', ['MIIB']],
  ])('a %s header is refused and never fetched', async (name, value) => {
    const before = counting.calls.length;
    const token = forgeToken({ header: accessHeader('attacker-kid', { [name]: value }), payload: claims(), key: attackerKeys().privateKey });
    expect(await rejects(token)).toBe('forbidden_header');
    expect(counting.calls.length).toBe(before);
    expect(counting.calls.every((url) => url === tessera.jwksUri)).toBe(true);
  });

  it.each([['unknown extension', ['exp-ext']], ['empty list', []], ['b64 (RFC 7797)', ['b64']]])('crit with %s is refused', async (_name, crit) => {
    expect(await rejects(realSigned(accessHeader(real.kid, { crit, 'exp-ext': true, b64: true })))).toBe('forbidden_header');
  });
});

describe('kid', () => {
  it.each([
    ['path traversal', '../../etc/passwd'],
    ['path traversal to /dev/null', '../../../../../../dev/null'],
    ['SQL injection', "' OR 1=1 --"],
    ['a URL', 'https://attacker.example/key'],
    ['an unknown kid', 'no-such-key'],
  ])('%s is an unknown kid', async (_name, kid) => {
    expect(await rejects(forgeToken({ header: accessHeader(kid), payload: claims(), key: attackerKeys().privateKey }))).toBe('unknown_kid');
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['a number', 42],
    ['an object', { $ne: null }],
    ['huge', 'k'.repeat(10_000)],
  ])('a kid that is %s is malformed', async (_name, kid) => {
    expect(await rejects(realSigned(accessHeader('x', { kid })))).toBe('malformed');
  });

  it('a name like __proto__ or constructor does not reach a prototype', async () => {
    for (const kid of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(await rejects(realSigned(accessHeader(kid))), kid).toBe('unknown_kid');
    }
  });
});

describe('claims', () => {
  const now = () => Math.floor(tessera.t.clock.now() / 1000);

  it('expired', async () => {
    expect(await rejects(realSigned(accessHeader(real.kid), claims({ iat: now() - 1000, exp: now() - 10 })))).toBe('expired');
  });

  it('not yet valid: iat or nbf in the future', async () => {
    expect(await rejects(realSigned(accessHeader(real.kid), claims({ iat: now() + 60, exp: now() + 900 })))).toBe('not_yet_valid');
    expect(await rejects(realSigned(accessHeader(real.kid), claims({ nbf: now() + 60 })))).toBe('not_yet_valid');
    expect(await rejects(realSigned(accessHeader(real.kid), claims({ nbf: 'soon' })))).toBe('not_yet_valid');
  });

  it('wrong issuer', async () => {
    for (const iss of ['https://attacker.example', `${tessera.issuer}/`, tessera.issuer.toUpperCase()]) {
      expect(await rejects(realSigned(accessHeader(real.kid), claims({ iss }))), iss).toBe('invalid_issuer');
    }
  });

  it('wrong audience', async () => {
    for (const aud of ['other-service', ['other', 'another'], [], 42]) {
      expect(await rejects(realSigned(accessHeader(real.kid), claims({ aud }))), JSON.stringify(aud)).toBe('invalid_audience');
    }
  });

  it.each(['iss', 'sub', 'exp', 'iat', 'jti', 'sid', 'client_id'])('missing %s', async (name) => {
    expect(await rejects(realSigned(accessHeader(real.kid), claims({ [name]: undefined })))).toBe('missing_claim');
  });

  it('exp as a string is not a number', async () => {
    expect(await rejects(realSigned(accessHeader(real.kid), claims({ exp: String(now() + 600) })))).toBe('missing_claim');
  });
});

describe('token type', () => {
  const now = () => Math.floor(tessera.t.clock.now() / 1000);

  it('an ID-token-shaped JWT (typ JWT) from the same issuer and key is refused', async () => {
    const idToken = realSigned(accessHeader(real.kid, { typ: 'JWT' }), {
      ...claims({ aud: 'tessera' }),
      nonce: 'n-0S6_WzA2Mj',
      auth_time: now(),
      email: 'someone@example.com',
    });
    expect(await rejects(idToken)).toBe('invalid_type');
  });

  it.each([['missing', undefined], ['JWT', 'JWT'], ['jwt', 'jwt'], ['at+JWT-ish', 'at+jwt2'], ['a number', 1]])('typ %s is refused', async (_name, typ) => {
    expect(await rejects(realSigned(accessHeader(real.kid, { typ })))).toBe('invalid_type');
  });

  it('a Tessera refresh token used as a bearer token is refused', async () => {
    expect(await rejects(real.refreshToken)).toBe('malformed');
  });
});

describe('shape', () => {
  it.each([
    ['one segment', 'abc'],
    ['four segments', `${'a.'.repeat(3)}a`],
    ['five segments (JWE)', 'eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d'],
    ['an empty string', ''],
    ['dots only', '..'],
    ['padding', 'eyJhbGciOiJSUzI1NiJ9=.e30=.AAAA'],
    ['whitespace', ' eyJhbGciOiJSUzI1NiJ9.e30.AAAA'],
    ['a header that is not JSON', `${b64url('{"alg":')}.${b64url({})}.AAAA`],
    ['a header that is a JSON array', `${b64url('["RS256"]')}.${b64url({})}.AAAA`],
    ['a payload that is not JSON', `${b64url(accessHeader('kid'))}.${b64url('not json')}.AAAA`],
    ['a payload that is a JSON string', `${b64url(accessHeader('kid'))}.${b64url('"claims"')}.AAAA`],
  ])('%s is malformed', async (_name, token) => {
    expect(await rejects(token)).toBe('malformed');
  });

  it('an extra segment appended to a real token is refused', async () => {
    expect(await rejects(`${real.token}.AAAA`)).toBe('malformed');
    expect(await rejects(`${real.token}.`)).toBe('malformed');
  });

  it('a 1 MB token is refused before parsing, without a fetch', async () => {
    const before = counting.calls.length;
    const huge = realSigned(accessHeader(real.kid), claims({ padding: 'x'.repeat(1024 * 1024) }));
    expect(huge.length).toBeGreaterThan(1024 * 1024);
    expect(await rejects(huge)).toBe('malformed');
    expect(counting.calls.length).toBe(before);
  });

  it.each([['undefined', undefined], ['null', null], ['a number', 42], ['an object', {}]])('a non-string (%s) is malformed', async (_n, value) => {
    expect(await rejects(value as unknown as string)).toBe('malformed');
  });
});

describe('keys', () => {
  it('a token signed by a key that is no longer published is refused', async () => {
    const { t } = tessera;
    const old = real.token;
    const oldKid = decodeJwt(old).header.kid as string;
    await expect(verifier.verify(old)).resolves.toBeTruthy(); // the old key is cached right now
    t.clock.advance(1_000);
    await generateKeyFile(t.config.keysDir, { modulusLength: 2048, now: t.clock.now() });
    await deleteKeyFiles(t.config.keysDir, oldKid);
    await t.keys.reload();
    expect(t.keys.jwks().body.keys.map((k) => k.kid)).not.toContain(oldKid);

    await verifier.refreshKeys(); // what the background refresh does once max-age has passed
    expect(await rejects(old)).toBe('unknown_kid');
    const fresh = createVerifier({ issuer: tessera.issuer, audience: 'tessera', now: () => t.clock.now() });
    expect(await codeOf(fresh.verify(old))).toBe('unknown_kid');
    const current = (await signUp(t.fastify)).tokens.access_token;
    await expect(fresh.verify(current)).resolves.toMatchObject({ iss: tessera.issuer });
  });
});
