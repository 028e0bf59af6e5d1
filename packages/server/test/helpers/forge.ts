// Builds hostile JWTs with node:crypto alone, for the attack suites (the verifier library's
// and the server's own bearer check). Nothing here validates anything: the point is to be
// able to produce exactly the bytes an attacker would send.
import crypto from 'node:crypto';

export type JsonObject = Record<string, unknown>;

export interface ForgeOptions {
  header: JsonObject;
  /** Claims, or a raw string used as the payload segment's content (e.g. not JSON). */
  payload: JsonObject | string;
  /** Signs RS256 (RSASSA-PKCS1-v1_5 + SHA-256) with this RSA private key. */
  key?: crypto.KeyObject;
  /** Signs HS256 with this secret (key-confusion attacks: a public key PEM, a JWK's `n`...). */
  hmacSecret?: string | Buffer;
  /** Uses these bytes (or this base64url text) as the signature. Empty by default when no key is given. */
  signature?: Buffer | string;
}

export const b64url = (value: JsonObject | string | Buffer): string =>
  (Buffer.isBuffer(value) ? value : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))).toString('base64url');

/** A compact JWS `header.payload.signature` built exactly as told. */
export function forgeToken(options: ForgeOptions): string {
  const signingInput = `${b64url(options.header)}.${b64url(options.payload)}`;
  let signature: string;
  if (options.signature !== undefined) {
    signature = Buffer.isBuffer(options.signature) ? options.signature.toString('base64url') : options.signature;
  } else if (options.key) {
    signature = crypto.sign('RSA-SHA256', Buffer.from(signingInput), options.key).toString('base64url');
  } else if (options.hmacSecret !== undefined) {
    signature = crypto.createHmac('sha256', options.hmacSecret).update(signingInput).digest('base64url');
  } else {
    signature = '';
  }
  return `${signingInput}.${signature}`;
}

export interface RsaKeyPair {
  privateKey: crypto.KeyObject;
  publicKey: crypto.KeyObject;
  /** The public key as a JWK (`kty`, `n`, `e`). */
  jwk: crypto.JsonWebKey;
  /** The public key as SPKI PEM, what a key-confusion attacker would use as an HMAC secret. */
  pem: string;
}

let attacker: RsaKeyPair | undefined;

/** An RSA-2048 key pair that no issuer trusts (generated once per process). */
export function attackerKeys(): RsaKeyPair {
  attacker ??= rsaKeyPair(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }));
  return attacker;
}

export function rsaKeyPair(pair: { privateKey: crypto.KeyObject; publicKey: crypto.KeyObject }): RsaKeyPair {
  return {
    ...pair,
    jwk: pair.publicKey.export({ format: 'jwk' }),
    pem: pair.publicKey.export({ format: 'pem', type: 'spki' }) as string,
  };
}

/** The header Tessera puts on access tokens, with overrides. */
export const accessHeader = (kid: string, overrides: JsonObject = {}): JsonObject => ({ alg: 'RS256', typ: 'at+jwt', kid, ...overrides });

/** A complete, currently valid claim set for `issuer`/`audience`, with overrides (`undefined` removes a claim). */
export function accessClaims(issuer: string, audience: string, overrides: JsonObject = {}, nowMs = Date.now()): JsonObject {
  const iat = Math.floor(nowMs / 1000);
  const claims: JsonObject = {
    iss: issuer,
    sub: crypto.randomUUID(),
    aud: audience,
    exp: iat + 600,
    iat,
    jti: crypto.randomUUID(),
    client_id: 'tessera',
    sid: crypto.randomUUID(),
    ...overrides,
  };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return claims;
}
