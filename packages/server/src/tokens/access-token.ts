import crypto from 'node:crypto';
import { toSeconds, type Clock } from '../clock.ts';
import type { KeyStore } from '../keys/key-store.ts';

export interface AccessTokenSettings {
  issuer: string;
  audience: string;
  ttlSeconds: number;
  /** The `acr` claim for each level, when configured (ACR_PASSWORD, ACR_MFA). */
  acr?: { password?: string | undefined; mfa?: string | undefined };
}

export interface IssuedAccessToken {
  token: string;
  jti: string;
  iat: number;
  exp: number;
  expiresIn: number;
}

export interface AccessTokenSubject {
  userId: string;
  sessionId: string;
  clientId: string;
  /** RFC 9068 §2.2.1 / RFC 8176: how and when the user authenticated (from the session). */
  amr?: string[];
  authTime?: number;
  /** RFC 9068 §2.2.3.1; left out when empty. */
  roles?: string[];
  /** The provider the user signed in with (social sign-in); left out for Tessera's own. */
  idp?: string | null;
}

/**
 * amr values that make a token multi-factor in Tessera's own tokens (the acr level): a TOTP
 * code, a passkey (hardware- or software-bound key, RFC 8176), or `mfa` outright.
 */
const SECOND_FACTORS = new Set(['otp', 'hwk', 'swk', 'mfa']);

const encodeSegment = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * Issues RFC 9068 access tokens. Signing uses node:crypto's callback form, which runs the
 * RSA private-key operation on the libuv thread pool instead of the event loop.
 */
export function createAccessTokenIssuer(keys: KeyStore, clock: Clock, settings: AccessTokenSettings) {
  return async function issueAccessToken(subject: AccessTokenSubject): Promise<IssuedAccessToken> {
    const { kid, privateKey } = keys.signingKey();
    const iat = toSeconds(clock.now());
    const exp = iat + settings.ttlSeconds;
    const jti = crypto.randomUUID();
    const header = encodeSegment({ alg: 'RS256', typ: 'at+jwt', kid });
    const payload = encodeSegment({
      iss: settings.issuer,
      sub: subject.userId,
      aud: settings.audience,
      exp,
      iat,
      jti,
      client_id: subject.clientId,
      sid: subject.sessionId,
      ...authenticationClaims(subject, settings.acr),
    });
    const signingInput = `${header}.${payload}`;
    const signature = await new Promise<Buffer>((resolve, reject) =>
      crypto.sign('RSA-SHA256', Buffer.from(signingInput), privateKey, (err, sig) => (err ? reject(err) : resolve(sig))),
    );
    return { token: `${signingInput}.${signature.toString('base64url')}`, jti, iat, exp, expiresIn: settings.ttlSeconds };
  };
}

/** auth_time, amr, acr, roles and idp: each only when there is something to say. */
function authenticationClaims(subject: AccessTokenSubject, acr: AccessTokenSettings['acr']): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  if (subject.authTime !== undefined) claims.auth_time = subject.authTime;
  if (subject.amr && subject.amr.length > 0) claims.amr = subject.amr;
  const level = subject.amr?.some((m) => SECOND_FACTORS.has(m)) ? acr?.mfa : acr?.password;
  if (level) claims.acr = level;
  if (subject.roles && subject.roles.length > 0) claims.roles = subject.roles;
  if (subject.idp) claims.idp = subject.idp;
  return claims;
}

export type IssueAccessToken = ReturnType<typeof createAccessTokenIssuer>;
