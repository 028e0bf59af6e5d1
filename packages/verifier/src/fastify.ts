// Fastify glue for the verifier: `requireAuth` / `optionalAuth` preHandlers that put the
// verified claims on `request.auth` and answer failures the way Tessera itself does
// (problem+json with a stable `code`, RFC 6750 `WWW-Authenticate`). Imports only types from
// fastify, so the plugin adds no runtime dependency beyond the fastify you already run.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describeCause } from './causes.js';
import { createVerifier, VerifyError, type AccessTokenClaims, type Verifier, type VerifierOptions } from './index.js';
import { checkRequirements, stepUpChallenge, validateRequirements, type AuthRequirements, type RequirementFailure } from './requirements.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Claims of the verified bearer token (set by `requireAuth` / `optionalAuth`). */
    auth?: AccessTokenClaims;
  }
  interface FastifyInstance {
    /** The verifier behind the tessera-auth plugin. */
    verifier: Verifier;
    /**
     * preHandler: 401 unless the request carries a valid bearer token; sets `request.auth`.
     * Called with requirements it returns a preHandler that also checks them:
     * `app.requireAuth({ mfa: true, maxAge: 300, roles: ['admin'] })`.
     */
    requireAuth: RequireAuth;
    /** preHandler: sets `request.auth` when a valid token is present, passes when none is, 401 on a bad one. */
    optionalAuth: AuthPreHandler;
  }
}

export type AuthPreHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

/**
 * `requireAuth` reads naturally both ways: `{ preHandler: app.requireAuth }` (any valid
 * token) and `{ preHandler: app.requireAuth({ mfa: true, maxAge: 300 }) }` (a token that
 * also meets the route's requirements).
 */
export interface RequireAuth {
  /** As a preHandler: a valid bearer token, nothing more. */
  (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined>;
  /** With requirements: a preHandler that also checks them (validated now: a TypeError names a bad one). */
  (requirements?: AuthRequirements): AuthPreHandler;
}

export interface AuthHandlerOptions {
  /** `realm` of the WWW-Authenticate challenge. Default `tessera`. */
  realm?: string;
  /** The `acr_values` a step-up challenge names when a route requires a second factor. Default {@link DEFAULT_MFA_ACR}. */
  mfaAcr?: string;
  /** Clock for `maxAge`, milliseconds. Default the verifier options' `now`, else `Date.now`. */
  now?: () => number;
  /** Seconds of skew allowed on `maxAge`. Default the verifier options' `clockTolerance`, else 5. */
  clockTolerance?: number;
}

export type TesseraAuthOptions = (VerifierOptions | { verifier: Verifier }) & Pick<AuthHandlerOptions, 'realm' | 'mfaAcr'>;

const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';
const BEARER = /^Bearer +([^\s]+) *$/i;

/** What a failure looks like on the wire: Tessera's own codes, the verifier's reason beside them. */
function failure(err: VerifyError | 'missing' | 'malformed_header') {
  if (err === 'missing') {
    return { status: 401, code: 'invalid_token', reason: 'missing_token', detail: 'An access token is required (Authorization: Bearer)' };
  }
  if (err === 'malformed_header') {
    return { status: 401, code: 'invalid_token', reason: 'malformed', detail: 'The Authorization header must be "Bearer <token>"' };
  }
  if (err.code === 'jwks_unavailable' || err.code === 'revocation_unavailable') {
    return { status: 503, code: 'service_unavailable', reason: err.code, detail: 'The access token cannot be checked right now' };
  }
  if (err.code === 'revoked') return { status: 401, code: 'token_revoked', reason: err.code, detail: 'The access token has been revoked' };
  return { status: 401, code: 'invalid_token', reason: err.code, detail: `The access token is invalid: ${err.message}` };
}

const TITLES: Record<string, string> = {
  invalid_token: 'Invalid access token',
  token_revoked: 'Access token revoked',
  service_unavailable: 'Service unavailable',
  insufficient_user_authentication: 'Insufficient user authentication',
  insufficient_scope: 'Insufficient scope',
};

/** A valid token that does not meet the route's requirements: RFC 9470 step-up (401) or a missing role (403). */
function refuse(reply: FastifyReply, realm: string, failure: RequirementFailure): FastifyReply {
  let status: number;
  let reason: string;
  if (failure.error === 'insufficient_user_authentication') {
    status = 401;
    reason = failure.description === 'A second factor is required' ? 'mfa_required' : 'authentication_too_old';
    reply.header('www-authenticate', stepUpChallenge(failure));
  } else {
    status = 403;
    reason = 'missing_role';
    reply.header('www-authenticate', `Bearer realm="${realm}", error="insufficient_scope", error_description="${failure.description}"`);
  }
  const code = failure.error;
  return reply
    .code(status)
    .type(PROBLEM_CONTENT_TYPE)
    .send({ type: `urn:tessera:error:${code}`, title: TITLES[code], status, detail: failure.description, code, reason });
}

const QUOTABLE = /^[\x20-\x7e]*$/;
const quotable = (value: string) => QUOTABLE.test(value) && !value.includes('"') && !value.includes('\\');

function reject(reply: FastifyReply, realm: string, err: VerifyError | 'missing' | 'malformed_header'): FastifyReply {
  const { status, code, reason, detail } = failure(err);
  if (status >= 500 && err instanceof VerifyError) {
    // The client did nothing wrong: whoever runs the service needs the cause (ECONNREFUSED
    // to the JWKS, Redis unreachable...), which the answer itself must not carry.
    reply.log.error({ reason, cause: describeCause(err.cause) }, `access token could not be checked (${reason})`);
  }
  if (status === 401) {
    // RFC 6750 §3.1: no error code when the request carried no credentials at all.
    const error = err === 'missing' ? '' : `, error="invalid_token", error_description="${code === 'token_revoked' ? 'The access token has been revoked' : 'The access token is invalid'}"`;
    reply.header('www-authenticate', `Bearer realm="${realm}"${error}`);
  } else {
    reply.header('retry-after', '5');
  }
  return reply
    .code(status)
    .type(PROBLEM_CONTENT_TYPE)
    .send({ type: `urn:tessera:error:${code}`, title: TITLES[code], status, detail, code, reason });
}

/** Both end up inside a quoted-string of a WWW-Authenticate header. */
function checkHandlerOptions({ realm, mfaAcr }: AuthHandlerOptions): void {
  if (realm !== undefined && (typeof realm !== 'string' || !quotable(realm))) {
    throw new TypeError('tesseraAuth: option "realm" must be printable ASCII without quotes or backslashes');
  }
  if (mfaAcr !== undefined && (typeof mfaAcr !== 'string' || mfaAcr.length === 0 || !quotable(mfaAcr))) {
    throw new TypeError('tesseraAuth: option "mfaAcr" must be a non-empty printable ASCII string without quotes or backslashes');
  }
}

/**
 * Builds the preHandlers around a verifier, for apps that wire routes by hand instead of
 * registering {@link tesseraAuth}. `requireAuth` is a preHandler, and a factory of one with
 * requirements (see {@link RequireAuth}).
 *
 * @example
 * ```ts
 * const { requireAuth } = authPreHandlers(createVerifier({ issuer, audience: 'tessera' }));
 * app.get('/api/me', { preHandler: requireAuth }, async (request) => ({ sub: request.auth!.sub }));
 * app.post('/api/transfer', { preHandler: requireAuth({ mfa: true, maxAge: 300 }) }, transfer);
 * ```
 */
export function authPreHandlers(verifier: Verifier, realmOrOptions: string | AuthHandlerOptions = {}): { requireAuth: RequireAuth; optionalAuth: AuthPreHandler } {
  const options = typeof realmOrOptions === 'string' ? { realm: realmOrOptions } : realmOrOptions;
  checkHandlerOptions(options);
  const { realm = 'tessera', mfaAcr, now = Date.now, clockTolerance = 5 } = options;
  const check = (required: boolean, requirements?: AuthRequirements): AuthPreHandler =>
    async function authenticate(request, reply) {
      const header = request.headers.authorization;
      if (header === undefined || header === '') return required ? reject(reply, realm, 'missing') : undefined;
      const match = BEARER.exec(header);
      if (!match) return reject(reply, realm, 'malformed_header');
      try {
        request.auth = await verifier.verify(match[1]!);
      } catch (err) {
        if (err instanceof VerifyError) return reject(reply, realm, err);
        throw err;
      }
      if (requirements) {
        const failure = checkRequirements(request.auth, requirements, { now: Math.floor(now() / 1000), clockTolerance, ...(mfaAcr ? { mfaAcr } : {}) });
        if (failure) return refuse(reply, realm, failure);
      }
      return undefined;
    };
  const plain = check(true);
  // Fastify always calls a hook with (request, reply, done); a factory call never passes a reply.
  const requireAuth = function requireAuth(this: unknown, first?: unknown, reply?: unknown) {
    if (reply !== undefined) return plain.call(this, first as FastifyRequest, reply as FastifyReply);
    return first === undefined ? plain : check(true, validateRequirements(first));
  } as RequireAuth;
  return { requireAuth, optionalAuth: check(false) };
}

/**
 * Fastify plugin: decorates the instance with `verifier`, `requireAuth` and `optionalAuth`
 * and the request with `auth`. Registered without encapsulation (like fastify-plugin), so the
 * decorators are visible to every route of the app. Takes either verifier options (the plugin
 * then owns the verifier and closes it with the app) or a ready `verifier`.
 *
 * Failures answer `401 application/problem+json` with `code` `invalid_token` (or
 * `token_revoked`), the verifier's reason in `reason`, and `WWW-Authenticate: Bearer
 * error="invalid_token"`; a JWKS or denylist outage answers `503` `service_unavailable`.
 * With `revocation` (the feed or Redis), `app.verifier.status()` is what a readiness route
 * answers from: `'degraded'` while revocations may be missing.
 * A route with requirements (`app.requireAuth({ mfa, maxAge, roles })`) answers a token that
 * falls short with RFC 9470's `401 insufficient_user_authentication` challenge, or `403
 * insufficient_scope` for a missing role.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { tesseraAuth } from '@tessera/verifier/fastify';
 *
 * const app = Fastify();
 * await app.register(tesseraAuth, { issuer: 'https://auth.example.com', audience: 'tessera', cache: true });
 * app.get('/api/profile', { preHandler: app.requireAuth }, async (request) => ({ sub: request.auth!.sub }));
 * app.post('/api/transfers', { preHandler: app.requireAuth({ mfa: true, maxAge: 300 }) }, transfer);
 * ```
 */
export async function tesseraAuth(app: FastifyInstance, options: TesseraAuthOptions): Promise<void> {
  const { realm = 'tessera', mfaAcr, ...rest } = options;
  checkHandlerOptions({ realm, ...(mfaAcr !== undefined ? { mfaAcr } : {}) });
  let verifier: Verifier;
  if ('verifier' in rest) {
    verifier = rest.verifier;
  } else {
    verifier = createVerifier(rest);
    app.addHook('onClose', async () => verifier.close());
  }
  // maxAge is judged by the same clock and skew as the token itself.
  const clock = 'verifier' in rest ? {} : { ...(rest.now ? { now: rest.now } : {}), ...(rest.clockTolerance !== undefined ? { clockTolerance: rest.clockTolerance } : {}) };
  const handlers = authPreHandlers(verifier, { realm, ...(mfaAcr !== undefined ? { mfaAcr } : {}), ...clock });
  app.decorate('verifier', verifier);
  app.decorate('requireAuth', handlers.requireAuth);
  app.decorate('optionalAuth', handlers.optionalAuth);
  if (!app.hasRequestDecorator('auth')) app.decorateRequest('auth', undefined);
}

// What fastify-plugin does (it is not a dependency of the verifier): skip encapsulation so
// the decorators reach the parent instance, and give the plugin a name in errors.
Object.assign(tesseraAuth, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'tessera-auth',
});
