import { checkClaims, MAX_CLOCK_SKEW_SECONDS, parseAccessToken, verifySignature, VerifyError, type AccessTokenClaims } from '@tessera/verifier';
import { toSeconds, type Clock } from '../clock.ts';
import { AuthError } from '../errors.ts';
import type { KeyStore } from '../keys/key-store.ts';
import type { Denylist } from '../revocation/denylist.ts';

export interface BearerSettings {
  issuer: string;
  audience: string;
  /** ACCESS_TOKEN_TTL: a token claiming to live longer (plus skew) is refused, whoever signed it. */
  accessTokenTtl: number;
  clockToleranceSeconds?: number;
}

/**
 * The server's own access-token check: the same code as the verifier library, with keys
 * from keys/ instead of a fetched JWKS, and this replica's denylist mirror.
 */
export class AccessTokenVerifier {
  private readonly tolerance: number;

  constructor(
    private readonly keys: KeyStore,
    private readonly denylist: Denylist,
    private readonly clock: Clock,
    private readonly settings: BearerSettings,
  ) {
    this.tolerance = settings.clockToleranceSeconds ?? 5;
  }

  /** Signature and claims, not revocation. Throws VerifyError. */
  async inspect(token: string): Promise<AccessTokenClaims> {
    const parsed = parseAccessToken(token);
    const key = this.keys.publicKey(parsed.kid) ?? (await this.keys.publicKeyOrReload(parsed.kid));
    if (!key) throw new VerifyError('unknown_kid', 'unknown key id');
    verifySignature(parsed, key);
    return checkClaims(parsed.payload, {
      issuer: this.settings.issuer,
      audience: this.settings.audience,
      now: toSeconds(this.clock.now()),
      clockTolerance: this.tolerance,
      maxLifetime: this.settings.accessTokenTtl + MAX_CLOCK_SKEW_SECONDS,
    });
  }

  isRevoked(claims: AccessTokenClaims): boolean {
    return this.denylist.isRevoked(claims);
  }

  /** Full check for bearer-protected routes. Throws AuthError invalid_token / token_revoked. */
  verify = async (token: string): Promise<AccessTokenClaims> => {
    let claims: AccessTokenClaims;
    try {
      claims = await this.inspect(token);
    } catch (err) {
      if (err instanceof VerifyError) {
        throw new AuthError('invalid_token', `The access token is invalid: ${err.message}`, { reason: err.code });
      }
      throw err;
    }
    if (this.isRevoked(claims)) throw new AuthError('token_revoked', 'The access token has been revoked');
    return claims;
  };
}

export type VerifyBearer = AccessTokenVerifier['verify'];
