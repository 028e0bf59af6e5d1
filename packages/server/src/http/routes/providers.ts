// Social sign-in routes (docs/integrate/social-sign-in.md; the flow in docs/architecture.md). Thin: zod in, one service call, reply.
import formbody from '@fastify/formbody';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { IdentityService } from '../../providers/identity-service.ts';
import type { ProviderSignIn } from '../../providers/provider-sign-in.ts';
import { authenticate } from '../authenticate.ts';
import { claimsOf, requestContext } from '../context.ts';
import type { RouteDeps } from '../services.ts';
import { noStore, sendLoginResult } from '../token-response.ts';
import { parseWith, tokenDelivery } from '../validation.ts';

export interface ProviderRouteDeps extends RouteDeps {
  providerSignIn: ProviderSignIn;
  identities: IdentityService;
}

const secret = (max: number) => z.string().min(1).max(max).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII');
const nameParam = z.strictObject({ name: z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'must be a provider name') });
const startBody = z.strictObject({
  redirect_to: z.string().min(1).max(2048),
  // RFC 7636 S256: BASE64URL(SHA-256(verifier)), 43 characters.
  code_challenge: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be the S256 challenge: 43 base64url characters'),
  code_challenge_method: z.literal('S256', { error: 'must be "S256"' }),
});
const signInOptions = {
  token_delivery: tokenDelivery,
  remember: z.boolean({ error: 'must be a boolean' }).default(false),
};
const tokenBody = z.strictObject({
  code: secret(200),
  // RFC 7636 §4.1: 43 to 128 characters of [A-Z a-z 0-9 - . _ ~].
  code_verifier: z.string().regex(/^[A-Za-z0-9._~-]{43,128}$/, 'must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~'),
  ...signInOptions,
});
const idTokenBody = z.strictObject({ id_token: secret(16_384), nonce: z.string().min(1).max(512).optional(), ...signInOptions });
const identityParam = z.strictObject({ id: z.uuid('must be an identity id (UUID)') });

export async function providerRoutes(app: FastifyInstance, deps: ProviderRouteDeps): Promise<void> {
  const { config, providerSignIn, identities } = deps;
  const requireBearer = authenticate(deps.verifyBearer);
  // Sign in with Apple answers the callback as a form POST (response_mode=form_post).
  await app.register(formbody, { bodyLimit: config.bodyLimit });

  app.get('/auth/providers', async (_request, reply) => {
    return reply.send({ providers: providerSignIn.providers() });
  });

  app.post('/auth/providers/:name/start', async (request, reply) => {
    const { name } = parseWith(nameParam, request.params);
    const body = parseWith(startBody, request.body);
    // With a bearer token, the identity is linked to the signed-in account.
    if (request.headers.authorization !== undefined) await requireBearer(request);
    const started = await providerSignIn.start(name, body, request.auth?.sub);
    return noStore(reply).send(started);
  });

  const callback = async (name: string, params: URLSearchParams, request: Parameters<typeof requestContext>[0]) => {
    return providerSignIn.callback(name, params, requestContext(request));
  };
  app.get('/auth/providers/:name/callback', async (request, reply) => {
    const { name } = parseWith(nameParam, request.params);
    const location = await callback(name, new URLSearchParams(request.query as Record<string, string>), request);
    return noStore(reply).redirect(location, 302);
  });
  app.post('/auth/providers/:name/callback', async (request, reply) => {
    const { name } = parseWith(nameParam, request.params);
    const form = typeof request.body === 'object' && request.body !== null ? (request.body as Record<string, string>) : {};
    const location = await callback(name, new URLSearchParams(form), request);
    // 303: the browser follows a form post's answer with a GET.
    return noStore(reply).redirect(location, 303);
  });

  app.post('/auth/providers/token', async (request, reply) => {
    const body = parseWith(tokenBody, request.body);
    const result = await providerSignIn.redeem(body, { remember: body.remember, tokenDelivery: body.token_delivery }, requestContext(request));
    if ('identity' in result) return noStore(reply).send(result);
    return sendLoginResult(reply, config, result, body.token_delivery);
  });

  app.post('/auth/providers/:name/id-token', async (request, reply) => {
    const { name } = parseWith(nameParam, request.params);
    const body = parseWith(idTokenBody, request.body);
    const options = { remember: body.remember, tokenDelivery: body.token_delivery };
    const result = await providerSignIn.idToken(name, { id_token: body.id_token, nonce: body.nonce }, options, requestContext(request));
    return sendLoginResult(reply, config, result, body.token_delivery);
  });

  app.get('/auth/identities', { preHandler: requireBearer }, async (request, reply) => {
    return noStore(reply).send({ identities: await identities.list(claimsOf(request)) });
  });

  app.delete('/auth/identities/:id', { preHandler: requireBearer }, async (request, reply) => {
    const { id } = parseWith(identityParam, request.params);
    await identities.unlink(claimsOf(request), id, requestContext(request));
    return reply.code(204).send();
  });
}
