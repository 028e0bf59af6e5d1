// RFC 7009 revocation and RFC 7662 introspection for resource servers.
import type { AuthService } from '../auth-service.ts';
import type { RequestContext } from '../request-context.ts';
import { toSeconds, type Clock } from '../clock.ts';
import type { Denylist } from '../revocation/denylist.ts';
import type { SessionService } from '../sessions/session-service.ts';
import { looksLikeRefreshToken } from '../sessions/refresh-token.ts';
import type { AccessTokenVerifier } from '../tokens/bearer.ts';
import { MAX_CLOCK_SKEW_SECONDS } from '@tessera/verifier';

export type TokenTypeHint = 'access_token' | 'refresh_token' | undefined;

export interface Introspection {
  active: boolean;
  [claim: string]: unknown;
}

export class OAuthService {
  constructor(
    private readonly deps: {
      auth: AuthService;
      sessions: SessionService;
      accessTokens: AccessTokenVerifier;
      denylist: Denylist;
      clock: Clock;
      issuer: string;
    },
  ) {}

  /** RFC 7009: unknown, expired and already revoked tokens are a success too. */
  async revoke(token: string, _hint: TokenTypeHint, clientId: string, ctx: RequestContext): Promise<void> {
    // Our two token kinds cannot be mistaken for each other, so the hint is not needed.
    if (looksLikeRefreshToken(token)) {
      // Revoking a refresh token ends its session and with it the session's access tokens
      // (a token rotated before the grace window counts as reuse, as at refresh).
      await this.deps.auth.endSessionByRefreshToken(token, `revoked_by:${clientId}`, ctx);
      return;
    }
    const claims = await this.deps.accessTokens.inspect(token).catch(() => undefined);
    if (!claims) return;
    await this.deps.denylist.revoke({ kind: 'token', id: claims.jti, until: (claims.exp + MAX_CLOCK_SKEW_SECONDS) * 1000 });
    this.deps.auth.audit('token.revoked', { user_id: claims.sub, session_id: claims.sid, jti: claims.jti, by: clientId }, ctx);
  }

  /** RFC 7662: anything not currently usable is `{active: false}` with nothing else. */
  async introspect(token: string): Promise<Introspection> {
    if (looksLikeRefreshToken(token)) return this.introspectRefreshToken(token);
    const claims = await this.deps.accessTokens.inspect(token).catch(() => undefined);
    if (!claims || this.deps.accessTokens.isRevoked(claims)) return { active: false };
    return {
      active: true,
      token_type: 'Bearer',
      iss: claims.iss,
      sub: claims.sub,
      aud: claims.aud,
      exp: claims.exp,
      iat: claims.iat,
      jti: claims.jti,
      sid: claims.sid,
      client_id: claims.client_id,
      // RFC 9470 §6.2: how and when the user authenticated, for resource servers that introspect.
      ...(claims.auth_time !== undefined ? { auth_time: claims.auth_time } : {}),
      ...(claims.acr !== undefined ? { acr: claims.acr } : {}),
      ...(claims.amr !== undefined ? { amr: claims.amr } : {}),
      ...(claims.roles !== undefined ? { roles: claims.roles } : {}),
    };
  }

  private async introspectRefreshToken(token: string): Promise<Introspection> {
    const found = await this.deps.sessions.findLiveByCurrentRefreshToken(token);
    if (!found) return { active: false };
    const { session, issuedAt } = found;
    const end = Math.min(session.idleExpiresAt.getTime(), session.absoluteExpiresAt.getTime());
    return {
      active: true,
      token_type: 'refresh_token',
      iss: this.deps.issuer,
      sub: session.userId,
      exp: toSeconds(end),
      iat: toSeconds(issuedAt.getTime()),
      sid: session.id,
      client_id: session.clientId,
    };
  }
}
