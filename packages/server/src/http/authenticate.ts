import type { FastifyRequest } from 'fastify';
import { AuthError } from '../errors.ts';
import type { VerifyBearer } from '../tokens/bearer.ts';
import { bearerToken } from './context.ts';

/** preHandler for bearer-protected routes: verifies the token and sets `request.auth`. */
export function authenticate(verifyBearer: VerifyBearer) {
  return async function requireBearer(request: FastifyRequest): Promise<void> {
    const token = bearerToken(request);
    if (token === undefined) throw new AuthError('invalid_token', 'An access token is required (Authorization: Bearer)');
    request.auth = await verifyBearer(token);
  };
}
