import crypto from 'node:crypto';
import { toSeconds, type Clock } from '../clock.ts';
import type { KeyStore } from '../keys/key-store.ts';

export interface AccessTokenSettings {
  issuer: string;
  audience: string;
  ttlSeconds: number;
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
}

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
    });
    const signingInput = `${header}.${payload}`;
    const signature = await new Promise<Buffer>((resolve, reject) =>
      crypto.sign('RSA-SHA256', Buffer.from(signingInput), privateKey, (err, sig) => (err ? reject(err) : resolve(sig))),
    );
    return { token: `${signingInput}.${signature.toString('base64url')}`, jti, iat, exp, expiresIn: settings.ttlSeconds };
  };
}

export type IssueAccessToken = ReturnType<typeof createAccessTokenIssuer>;
