import type { FastifyReply } from 'fastify';
import type { TokenPair } from '../auth-service.ts';
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
