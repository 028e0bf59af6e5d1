// OAuth endpoints for off-the-shelf clients: form bodies in, RFC 6749 §5.2 errors out.
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ClientPermission } from '../../clients/client-list.ts';
import type { AuthenticateClient } from './admin.ts';
import type { OAuthService } from '../../oauth/oauth-service.ts';
import { requestContext } from '../context.ts';
import { answerTo, logServerError, toAuthError } from '../problem.ts';
import type { RouteDeps } from '../services.ts';
import { noStore, sendTokens } from '../token-response.ts';

class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
  }
}

const formField = z.string().min(1).max(4096);
const tokenRequest = z.object({ grant_type: formField, refresh_token: formField.optional(), client_id: formField.optional(), scope: z.string().optional() });
const tokenParam = z.object({ token: formField, token_type_hint: z.string().max(64).optional() });

function parseForm<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const fields = [...new Set(result.error.issues.map((i) => i.path.join('.') || 'body'))];
  throw new OAuthError('invalid_request', `missing or invalid parameter: ${fields.join(', ')}`);
}

function sendOAuthError(reply: FastifyReply, err: OAuthError): FastifyReply {
  if (err.status === 401) reply.header('www-authenticate', 'Basic realm="tessera"');
  return noStore(reply).code(err.status).send({ error: err.error, error_description: err.description });
}

/** Our problem codes, in the RFC 6749 vocabulary. */
function toOAuthError(err: unknown): OAuthError | undefined {
  if (err instanceof OAuthError) return err;
  const mapped = toAuthError(err);
  if (!mapped) return undefined;
  switch (mapped.code) {
    case 'invalid_grant':
    case 'refresh_token_reused':
    case 'session_expired':
      return new OAuthError('invalid_grant', mapped.detail);
    case 'invalid_client':
      return new OAuthError('invalid_client', mapped.detail, 401);
    case 'rate_limited':
      return new OAuthError('slow_down', mapped.detail, 429);
    case 'service_unavailable':
      return new OAuthError('temporarily_unavailable', mapped.detail, 503);
    default:
      return new OAuthError('invalid_request', mapped.detail, mapped.status >= 500 ? 500 : 400);
  }
}

export async function oauthRoutes(
  app: FastifyInstance,
  deps: RouteDeps & { oauth: OAuthService; authenticateOAuthClient: AuthenticateClient },
): Promise<void> {
  const { config, auth, oauth } = deps;

  /**
   * RFC 6749 §2.3.1 HTTP Basic client authentication against INTROSPECTION_CLIENTS (the
   * shared check: back-off and a `client.auth_failed` audit line), then the permission.
   */
  const authorizedClient = async (request: FastifyRequest, permission: ClientPermission): Promise<string> => {
    const clientId = await deps.authenticateOAuthClient(request.headers.authorization, requestContext(request));
    if (!config.introspectionClients.get(clientId)?.permissions.has(permission)) {
      throw new OAuthError('unauthorized_client', `this client lacks the ${permission} permission`, 403);
    }
    return clientId;
  };
  await app.register(formbody, { bodyLimit: config.bodyLimit });

  app.setErrorHandler((err: unknown, request, reply) => {
    const mapped = toOAuthError(err);
    if (mapped && mapped.status < 500) return sendOAuthError(reply, mapped);
    // A 5xx: logged with its cause, as on every other route.
    logServerError(request, answerTo(err));
    return sendOAuthError(reply, mapped ?? new OAuthError('server_error', 'An unexpected error occurred', 500));
  });

  // OAuth requires form bodies; JSON (or anything else) is a client mistake.
  app.addHook('preValidation', async (request) => {
    if (!/^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? '')) {
      throw new OAuthError('invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
    }
  });

  app.post('/oauth/token', async (request, reply) => {
    const form = parseForm(tokenRequest, request.body);
    if (form.grant_type !== 'refresh_token') {
      throw new OAuthError('unsupported_grant_type', 'only grant_type=refresh_token is supported');
    }
    if (!form.refresh_token) throw new OAuthError('invalid_request', 'missing parameter: refresh_token');
    const pair = await auth.refresh(form.refresh_token, requestContext(request));
    return sendTokens(reply, config, pair, 'body');
  });

  app.post('/oauth/revoke', async (request, reply) => {
    const clientId = await authorizedClient(request, 'revoke');
    const form = parseForm(tokenParam, request.body);
    const hint = form.token_type_hint === 'access_token' || form.token_type_hint === 'refresh_token' ? form.token_type_hint : undefined;
    await oauth.revoke(form.token, hint, clientId, requestContext(request));
    return noStore(reply).code(200).send();
  });

  app.post('/oauth/introspect', async (request, reply) => {
    await authorizedClient(request, 'introspect');
    const form = parseForm(tokenParam, request.body);
    return noStore(reply).send(await oauth.introspect(form.token));
  });
}
