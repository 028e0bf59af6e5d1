import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AuthError, PROBLEM_CONTENT_TYPE, problemFor } from '../errors.ts';
import { InfrastructureError } from '../infrastructure-error.ts';
import { infraCause } from './infra-error.ts';

/** Maps anything thrown in a route (ours or Fastify's) to an AuthError, never leaking internals. */
export function toAuthError(err: unknown): AuthError | undefined {
  if (err instanceof AuthError) return err;
  const e = err as Partial<FastifyError> & { status?: number };
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AuthError('unsupported_media_type', 'Content-Type must be application/json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AuthError('payload_too_large', 'The request body is too large');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AuthError('malformed_json', 'body: must not be empty when Content-Type is application/json', {
        errors: [{ field: 'body', message: 'must not be empty' }],
      });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AuthError('malformed_json', 'body: is not valid JSON', { errors: [{ field: 'body', message: 'is not valid JSON' }] });
  }
  const status = e.statusCode ?? e.status;
  if (err instanceof SyntaxError && status === 400) {
    return new AuthError('malformed_json', 'body: is not valid JSON', { errors: [{ field: 'body', message: 'is not valid JSON' }] });
  }
  if (status === 413) return new AuthError('payload_too_large');
  if (status === 415) return new AuthError('unsupported_media_type');
  if (status === 404) return new AuthError('not_found');
  if (status === 429) return new AuthError('rate_limited');
  if (status !== undefined && status >= 400 && status < 500) {
    // Fastify's own 4xx messages (bad content-length, prototype poisoning...) are safe to show.
    return new AuthError('validation_failed', e.message ?? 'Bad request');
  }
  // The database or Redis down (the adapters say so by type): the client did nothing wrong
  // and a retry may work, so 503 with Retry-After rather than a 500.
  if (err instanceof InfrastructureError) {
    const what = err.component === 'sql' ? 'The database' : 'A service Tessera depends on';
    return new AuthError('service_unavailable', `${what} is unreachable; try again shortly`, { retry_after: 5 }, { cause: err });
  }
  return undefined;
}

/**
 * Fastify's clientErrorHandler: errors raised before there is a request to reply to
 * (headers over the size limit, a malformed request line, a client that stalls) still
 * get a problem+json body with a code, written straight to the socket.
 */
export function writeClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const error =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new AuthError('headers_too_large', 'The request headers exceed the size limit')
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new AuthError('request_timeout', 'The request was not received in time')
        : new AuthError('validation_failed', 'The request is not valid HTTP');
  if (socket.writable) {
    const problem = problemFor(error);
    const body = JSON.stringify(problem);
    socket.write(
      `HTTP/1.1 ${error.status} ${problem.title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

export function sendProblem(reply: FastifyReply, error: AuthError): FastifyReply {
  if (error.code === 'invalid_token' || error.code === 'token_revoked') {
    // RFC 6750 §3: tell bearer clients why.
    const description = error.code === 'token_revoked' ? 'The access token has been revoked' : 'The access token is invalid';
    reply.header('www-authenticate', `Bearer realm="tessera", error="invalid_token", error_description="${description}"`);
  }
  if (error.code === 'insufficient_user_authentication') {
    // RFC 9470 §3: the client signs in again (or steps up) and retries; max_age says how recent.
    const maxAge = typeof error.extra.max_age === 'number' ? `, max_age="${error.extra.max_age}"` : '';
    reply.header('www-authenticate', `Bearer realm="tessera", error="insufficient_user_authentication", error_description="${error.detail}"${maxAge}`);
  }
  // RFC 7235 §3.1: a 401 names the scheme to use; problem+json routes that take client credentials use Basic.
  if (error.code === 'invalid_client') reply.header('www-authenticate', 'Basic realm="tessera"');
  if ((error.code === 'rate_limited' || error.code === 'mfa_locked' || error.code === 'service_unavailable') && error.extra.retry_after !== undefined) {
    reply.header('retry-after', String(error.extra.retry_after));
  }
  return reply.code(error.status).type(PROBLEM_CONTENT_TYPE).send(problemFor(error));
}

/**
 * Every 5xx answer is logged at `error` with why: the answer's internal `cause` (the
 * infrastructure failure behind a 503) or, for an error nothing mapped, the error itself
 * (`unhandled error`). The client sees neither; the log gets their messages, codes and stack
 * with credentials cut out (infra-error.ts), never the request body. A 4xx is not logged here.
 */
export function logServerError(request: FastifyRequest, answer: AuthError): void {
  if (answer.status < 500) return;
  const route = request.routeOptions.url;
  const cause = answer.cause === undefined ? {} : { cause: infraCause(answer.cause) };
  if (answer.code === 'internal_error') {
    request.log.error({ event: 'request.failed', code: answer.code, route, ...cause }, 'unhandled error');
  } else {
    request.log.error(
      { event: 'infrastructure.unavailable', code: answer.code, route, ...cause },
      `answered ${answer.status} ${answer.code}: a service Tessera depends on failed`,
    );
  }
}

/** The answer to `err`: its problem, or a 500 whose cause is `err`. */
export function answerTo(err: unknown): AuthError {
  return toAuthError(err) ?? new AuthError('internal_error', 'An unexpected error occurred', {}, { cause: err });
}

export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const answer = answerTo(err);
    logServerError(request, answer);
    return sendProblem(reply, answer);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new AuthError('not_found', `No route for ${request.method} ${request.url.split('?')[0]}`)),
  );
}
