import type { FastifyReply } from 'fastify';
import type { TokenPair } from '../auth-service.ts';
import type { MfaRequired } from '../mfa/mfa-service.ts';
import type { Config } from '../config.ts';
import { setRefreshCookie } from './refresh-cookie.ts';

export type Delivery = 'body' | 'cookie';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  refresh_token_expires_in: number;
}

/** Sends a token pair; with cookie delivery the refresh token goes only into the cookie. */
export function sendTokens(reply: FastifyReply, config: Config, pair: TokenPair, delivery: Delivery): FastifyReply {
  const body: TokenResponse = {
    access_token: pair.accessToken,
    token_type: 'Bearer',
    expires_in: pair.expiresIn,
    refresh_token_expires_in: pair.refreshExpiresIn,
  };
  if (delivery === 'cookie') {
    setRefreshCookie(reply, config, pair.refreshToken, { remember: pair.remember, maxAgeSeconds: pair.refreshExpiresIn });
  } else {
    body.refresh_token = pair.refreshToken;
  }
  return noStore(reply).send(body);
}

/** RFC 6749 §5.1: responses carrying tokens must not be cached. */
export function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

/**
 * A login's answer: the token pair, or, for an account with a second factor, the challenge
 * (`mfa_required`, no tokens, no cookie) that /auth/mfa/verify completes.
 */
export function sendLoginResult(reply: FastifyReply, config: Config, result: TokenPair | MfaRequired, delivery: Delivery): FastifyReply {
  if ('mfaRequired' in result) {
    return noStore(reply).send({ mfa_required: true, mfa_token: result.mfaToken, expires_in: result.expiresIn, methods: result.methods });
  }
  return sendTokens(reply, config, result, delivery);
}
