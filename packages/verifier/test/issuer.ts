// A stand-in issuer for the verifier's own tests: an RSA key, a JWKS over real HTTP and
// tokens signed with node:crypto, so the package is tested without Tessera's server.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect } from 'vitest';
import { VerifyError } from '@tessera/verifier';

export interface TestIssuer {
  issuer: string;
  jwksUri: string;
  kid: string;
  /** Signs an RS256 `at+jwt` with the published key; `claims` override the defaults. */
  sign(claims?: Record<string, unknown>, header?: Record<string, unknown>): string;
  /** Signs with a key that is not published (a forgery under the published kid). */
  forge(claims?: Record<string, unknown>): string;
  /** Publishes one more key; its `sign` makes tokens under that key's kid. */
  addKey(): { kid: string; sign(claims?: Record<string, unknown>): string };
  /** Stops publishing a key (as after a compromise). */
  withdraw(kid: string): void;
  /** JWKS requests served so far. */
  jwksRequests(): number;
  close(): Promise<void>;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function signWith(key: crypto.KeyObject, header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${crypto.sign('RSA-SHA256', Buffer.from(input), key).toString('base64url')}`;
}

function publishable(publicKey: crypto.KeyObject) {
  const jwk = publicKey.export({ format: 'jwk' });
  const kid = crypto.createHash('sha256').update(JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n })).digest('base64url');
  return { kid, jwk: { ...jwk, kid, alg: 'RS256', use: 'sig' } };
}

export async function startTestIssuer(): Promise<TestIssuer> {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const attacker = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const { kid, jwk } = publishable(publicKey);
  const published = new Map<string, object>([[kid, jwk]]);
  let requests = 0;
  const server = http.createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') return res.writeHead(404).end();
    requests++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [...published.values()] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const claimsFor = (overrides: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: issuer, sub: crypto.randomUUID(), aud: 'tessera', iat: now, exp: now + 900,
      jti: crypto.randomUUID(), client_id: 'tessera', sid: crypto.randomUUID(), ...overrides,
    };
  };
  const header = { alg: 'RS256', typ: 'at+jwt', kid };
  return {
    issuer,
    jwksUri: `${issuer}/.well-known/jwks.json`,
    kid,
    sign: (claims = {}, extra = {}) => signWith(privateKey, { ...header, ...extra }, claimsFor(claims)),
    forge: (claims = {}) => signWith(attacker, header, claimsFor(claims)),
    addKey() {
      const extra = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      const added = publishable(extra.publicKey);
      published.set(added.kid, added.jwk);
      const extraHeader = { ...header, kid: added.kid };
      return { kid: added.kid, sign: (claims = {}) => signWith(extra.privateKey, extraHeader, claimsFor(claims)) };
    },
    withdraw: (withdrawn) => void published.delete(withdrawn),
    jwksRequests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** One issuer for the test file: started before its tests, closed after; call `idp()` inside a test. */
export function useTestIssuer(): () => TestIssuer {
  let idp: TestIssuer | undefined;
  beforeAll(async () => {
    idp = await startTestIssuer();
  });
  afterAll(async () => idp?.close());
  return () => {
    if (!idp) throw new Error('the test issuer is not started yet');
    return idp;
  };
}

/** The VerifyError code a verification was refused with, or undefined when it was accepted. */
export async function refusalCode(promise: Promise<unknown>): Promise<string | undefined> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  if (err === undefined) return undefined;
  expect(err).toBeInstanceOf(VerifyError);
  return (err as VerifyError).code;
}
