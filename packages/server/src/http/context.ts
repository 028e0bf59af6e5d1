import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../request-context.ts';
import { AuthError } from '../errors.ts';
import type { AccessTokenClaims } from '@tessera/verifier';

declare module 'fastify' {
  interface FastifyRequest {
    /** Claims of the verified bearer token, set by the `authenticate` preHandler. */
    auth?: AccessTokenClaims;
  }
}

export function requestContext(request: FastifyRequest): RequestContext {
  const ua = request.headers['user-agent'];
  return { userAgent: typeof ua === 'string' ? ua.slice(0, 512) : null, ip: request.ip ?? null, requestId: request.id };
}

/** The verified claims of a route behind `authenticate`. */
export function claimsOf(request: FastifyRequest): AccessTokenClaims {
  if (!request.auth) throw new AuthError('invalid_token', 'The access token is missing');
  return request.auth;
}

/** The bearer token from `Authorization`, or undefined when there is none. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer +([^\s]+) *$/i.exec(header);
  if (!match) throw new AuthError('invalid_token', 'The Authorization header must be "Bearer <token>"');
  return match[1];
}
