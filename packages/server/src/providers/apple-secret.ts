// Sign in with Apple has no static client secret: the client authenticates with an ES256
// JWT signed by a key from the Apple developer account (team id, key id, .p8 key), at most
// six months valid. We make a short-lived one and reuse it until shortly before it expires.
import { importPKCS8, SignJWT } from 'jose';
import type { Clock } from '../clock.ts';
import type { AppleKey } from './provider-config.ts';

const LIFETIME_SECONDS = 3600;
const RENEW_BEFORE_SECONDS = 300;

export class AppleClientSecret {
  private current: { jwt: string; exp: number } | undefined;

  constructor(
    private readonly key: AppleKey,
    private readonly clientId: string,
    /** `aud` of the secret: Apple's issuer, https://appleid.apple.com. */
    private readonly audience: string,
    private readonly clock: Clock,
  ) {}

  /** A secret valid for at least RENEW_BEFORE_SECONDS more. */
  async get(): Promise<string> {
    const now = Math.floor(this.clock.now() / 1000);
    if (this.current && this.current.exp - RENEW_BEFORE_SECONDS > now) return this.current.jwt;
    const privateKey = await importPKCS8(this.key.privateKey, 'ES256');
    const exp = now + LIFETIME_SECONDS;
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: this.key.keyId })
      .setIssuer(this.key.teamId)
      .setSubject(this.clientId)
      .setAudience(this.audience)
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .sign(privateKey);
    this.current = { jwt, exp };
    return jwt;
  }
}
